import { VaultError, type ErrorCode } from '../core/errors.js';
import type { IO } from './io.js';

/** Turns anything thrown into the error a user sees: a VaultError with a code. */
export function toVaultError(e: unknown): VaultError {
  if (e instanceof VaultError) return e;
  const err = e as { name?: string; message?: string; code?: string };
  if (err?.name === 'ExitPromptError' || err?.name === 'AbortPromptError') return new VaultError('cancelled', 'cancelled');
  const code = err?.code;
  if (code === 'EACCES' || code === 'EPERM' || code === 'ENOSPC' || code === 'EROFS' || code === 'EIO') {
    return new VaultError('error', lowerFirst(err.message ?? String(e)), { cause: e });
  }
  return new VaultError('error', lowerFirst(err?.message ?? String(e)), { cause: e });
}

function lowerFirst(text: string): string {
  return text.length > 0 && /^[A-Z][a-z]/.test(text) ? text[0]!.toLowerCase() + text.slice(1) : text;
}

export interface ErrorStyle {
  json: boolean;
  debug: boolean;
  color: boolean;
}

/** SPEC §9: `vault: error: …` and `vault: hint: …` on stderr, or one JSON object with --json. */
export function formatError(err: VaultError, style: ErrorStyle): string {
  if (style.json) {
    const body: { code: ErrorCode; message: string; hint?: string } = { code: err.code, message: err.message };
    if (err.hint) body.hint = err.hint;
    if (err.details) Object.assign(body, err.details);
    return JSON.stringify({ error: body }) + '\n';
  }
  const red = (s: string): string => (style.color ? `\u001b[31m${s}\u001b[39m` : s);
  const dim = (s: string): string => (style.color ? `\u001b[2m${s}\u001b[22m` : s);
  let text = `vault: ${red('error:')} ${err.message}\n`;
  if (err.hint) text += `vault: ${dim('hint:')} ${err.hint}\n`;
  if (style.debug) {
    let cause: unknown = err;
    while (cause instanceof Error) {
      text += `${cause.stack ?? cause.message}\n`;
      cause = cause.cause;
    }
  }
  return text;
}

/** A one-line spinner on stderr while slow work runs; nothing when stderr is not a TTY. */
export async function withSpinner<T>(io: IO, enabled: boolean, label: string, work: () => Promise<T>): Promise<T> {
  if (!enabled || io.stderr.isTTY !== true) return work();
  const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
  let i = 0;
  const draw = (): void => {
    io.stderr.write(`\r${frames[i++ % frames.length]} ${label}…`);
  };
  draw();
  const timer = setInterval(draw, 80);
  try {
    return await work();
  } finally {
    clearInterval(timer);
    io.stderr.write('\r\u001b[2K');
  }
}
