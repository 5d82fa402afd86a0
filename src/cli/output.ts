import { errnoText, VaultError, type ErrorCode } from '../core/errors.js';
import type { ChalkInstance } from 'chalk';
import type { IO } from './io.js';

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/**
 * Stored text as it may be shown on a terminal. A vault file can be edited by anyone who can
 * write it, so a label, a description, a name or an audit detail may hold control characters:
 * ESC or CSI (U+009B) sequences that clear or rewrite the screen, or a newline that forges a
 * line of output. Every C0 control (TAB, LF and CR too: the fields are single-line), DEL and
 * every C1 control becomes a visible escape: `\t`, `\n`, `\r`, `\x1b`, `\x7f`, `\u009b`.
 * For display only: a backslash is not escaped, so the result cannot be turned back (--json
 * gives the exact text).
 */
export function printable(text: string): string {
  return text.replace(CONTROL, (c) => {
    const code = c.charCodeAt(0);
    if (c === '\t') return '\\t';
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    return code <= 0x7f ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/**
 * JSON for stdout or stderr. JSON.stringify already escapes C0 controls inside strings but
 * writes DEL and the C1 controls as they are, and a terminal acts on C1 (U+009B is CSI); they
 * are escaped as \u007f…\u009f, which every JSON parser reads back as the same text. They can
 * only occur inside strings, so the replacement never touches the structure.
 */
export function jsonText(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Exactly `jsonText(items.map(toJson)) + '\n'`, handed to `write` in pieces of `chunk` items:
 * a list of 10,000 secrets is 2 MB of JSON, which as one string was built, flattened, escaped,
 * flattened again and encoded, each a fresh 2 MB (memory the process touches for the first time
 * costs a page fault per 4 KiB), with an object per item alive until the end. JSON.stringify
 * of an array is its items' texts joined by commas between brackets, and the C1 escapes are
 * made character by character, so the pieces join to the same bytes.
 */
export function writeJsonArray<T>(write: (text: string) => void, items: readonly T[], toJson: (item: T) => unknown, chunk = 256): void {
  if (items.length === 0) {
    write('[]\n');
    return;
  }
  for (let at = 0; at < items.length; at += chunk) {
    // Each piece written as the slice of its text that it is (no copy of it joined to the
    // separators): `[a,b` first, then `,` and `c,d` for each further piece, then `]` and the newline.
    const part = jsonText(items.slice(at, at + chunk).map(toJson));
    if (at > 0) write(',');
    write(part.slice(at === 0 ? 0 : 1, -1));
  }
  write(']\n');
}

/** Turns anything thrown into the error a user sees: a VaultError with a code. */
export function toVaultError(e: unknown): VaultError {
  if (e instanceof VaultError) return e;
  const err = e as { name?: string; message?: string; code?: string };
  if (err?.name === 'ExitPromptError' || err?.name === 'AbortPromptError') return new VaultError('cancelled', 'cancelled');
  const errno = e as NodeJS.ErrnoException;
  if (typeof errno?.code === 'string' && /^E[A-Z0-9]+$/.test(errno.code) && typeof errno.syscall === 'string') {
    // "EACCES: permission denied, open '/x'" in plain words: "cannot open /x: permission denied"
    const what = errno.path !== undefined ? `${errno.syscall} ${errno.path}` : errno.syscall;
    return new VaultError('error', `cannot ${what}: ${errnoText(e)}`, { cause: e });
  }
  return new VaultError('error', lowerFirst(err?.message ?? String(e)), { cause: e });
}

function lowerFirst(text: string): string {
  return text.length > 0 && /^[A-Z][a-z]/.test(text) ? text[0]!.toLowerCase() + text.slice(1) : text;
}

export interface ErrorStyle {
  json: boolean;
  debug: boolean;
  /** colour for the labels, or undefined for none (chalk is loaded only when colour is on) */
  chalk?: ChalkInstance | undefined;
}

/** SPEC §9: `vault: error: …` and `vault: hint: …` on stderr, or one JSON object with --json. */
export function formatError(err: VaultError, style: ErrorStyle): string {
  if (style.json) {
    const body: { code: ErrorCode; message: string; hint?: string } = { code: err.code, message: err.message };
    if (err.hint) body.hint = err.hint;
    if (err.details) Object.assign(body, err.details);
    return jsonText({ error: body }) + '\n';
  }
  const red = (s: string): string => (style.chalk ? style.chalk.red(s) : s);
  const dim = (s: string): string => (style.chalk ? style.chalk.dim(s) : s);
  // Messages may carry text from the file (a slot id, a label, a name): escaped like every
  // other printed text, so that a planted value cannot rewrite the terminal or add a line.
  let text = `vault: ${red('error:')} ${printable(err.message)}\n`;
  if (err.hint) text += `vault: ${dim('hint:')} ${printable(err.hint)}\n`;
  if (style.debug) {
    let cause: unknown = err;
    while (cause instanceof Error) {
      text += `${cause.stack ?? cause.message}\n`;
      cause = cause.cause;
    }
  }
  return text;
}

/**
 * A one-line spinner on stderr while slow work runs; nothing when stderr is not a TTY.
 * Ctrl-C while it spins (the terminal sends SIGINT: no prompt is reading in raw mode) clears
 * the line and ends the command as cancelled (exit 130) instead of killing the process with
 * the spinner left on the screen. The work itself (a KDF in the thread pool) cannot be
 * stopped; its result is dropped.
 */
export async function withSpinner<T>(io: IO, enabled: boolean, label: string, work: () => Promise<T>): Promise<T> {
  if (!enabled || io.stderr.isTTY !== true) return work();
  const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
  let i = 0;
  const draw = (): void => {
    io.stderr.write(`\r${frames[i++ % frames.length]} ${label}…`);
  };
  draw();
  const timer = setInterval(draw, 80);
  let onSigint: (() => void) | undefined;
  const interrupted = new Promise<never>((_resolve, reject) => {
    onSigint = () => reject(new VaultError('cancelled', 'cancelled'));
    process.on('SIGINT', onSigint);
  });
  const running = work();
  running.catch(() => undefined);
  try {
    return await Promise.race([running, interrupted]);
  } finally {
    clearInterval(timer);
    process.removeListener('SIGINT', onSigint!);
    io.stderr.write('\r\u001b[2K');
  }
}
