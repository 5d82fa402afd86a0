import { StringDecoder } from 'node:string_decoder';
import { VaultError } from '../core/errors.js';
import type { IO } from './io.js';

/**
 * Prompts. Hidden input (passphrases, values) is read here in raw mode, so that what is typed
 * is never echoed, a field that failed validation starts empty again (it is a new read, not the
 * old line with more appended), and a multi-line paste at a one-line prompt is seen and refused
 * instead of being cut at its first line. Confirmations use @inquirer/prompts, loaded only when
 * one is shown (importing it costs tens of milliseconds that `vault get` in a script must not
 * pay). Prompts write to stderr; Ctrl-C becomes `cancelled` (exit 130).
 */

type TtyIn = IO['stdin'] & { setRawMode?: (raw: boolean) => unknown; isRaw?: boolean };

export const MULTILINE_HINT = 'vault put NAME --multiline takes several lines (Ctrl-D ends them), or use --from-file FILE';

/** DEC private mode 2004: the terminal brackets pasted text (not colour: a mode switch, turned off again at the end). */
const BRACKETED_ON = '\u001b[?2004h';
const BRACKETED_OFF = '\u001b[?2004l';

function cancelledError(): VaultError {
  return new VaultError('cancelled', 'cancelled');
}

/**
 * Reads one hidden answer from the terminal. One line, ended by Enter; with `multiline`,
 * any number of lines, ended by Ctrl-D (a final newline typed before it is kept; the caller
 * decides). Backspace deletes a character, Ctrl-U the current line, escape sequences (arrow
 * keys) are ignored. Ctrl-C, or Ctrl-D on an empty one-line field, cancels.
 */
export function readHidden(io: IO, message: string, options: { multiline?: boolean } = {}): Promise<Buffer> {
  const stdin = io.stdin as TtyIn;
  const multiline = options.multiline === true;
  if (typeof stdin.setRawMode !== 'function') return Promise.reject(new VaultError('usage', 'stdin is not a terminal'));
  // Bracketed paste (the terminal marks pasted text with ESC[200~ … ESC[201~) lets a paste of
  // several lines be told from typing: its line ends are part of it, not Enter.
  io.stderr.write(`${BRACKETED_ON}${multiline ? `? ${message} (several lines, hidden; Ctrl-D on a new line ends)\n` : `? ${message} `}`);
  return new Promise<Buffer>((resolve, reject) => {
    const decoder = new StringDecoder('utf8');
    let text = '';
    /** inside ESC … : null when not; the CSI parameters collected so far */
    let escape: string | null = null;
    let pasting = false;
    let pasted = '';
    const wasRaw = stdin.isRaw === true;
    const finish = (error: VaultError | null): void => {
      stdin.removeListener('data', onData);
      stdin.removeListener('end', onEnd);
      stdin.setRawMode!(wasRaw);
      stdin.pause();
      io.stderr.write(`${BRACKETED_OFF}\n`);
      if (error) {
        text = '';
        reject(error);
      } else {
        const value = Buffer.from(text, 'utf8');
        text = '';
        resolve(value);
      }
    };
    const severalLines = (): VaultError => new VaultError('usage', 'the value has several lines, and this prompt takes one; nothing was stored', { hint: MULTILINE_HINT });
    /** A paste has ended: at a one-line prompt, one final line end is Enter; more is refused. */
    const endPaste = (): 'done' | 'more' | 'refused' => {
      const body = pasted.replace(/\r\n?/g, '\n');
      pasted = '';
      if (multiline) {
        text += body;
        return 'more';
      }
      const trimmed = body.endsWith('\n') ? body.slice(0, -1) : body;
      if (trimmed.includes('\n')) return 'refused';
      text += trimmed;
      return body.endsWith('\n') ? 'done' : 'more';
    };
    const onEnd = (): void => finish(cancelledError());
    const onData = (chunk: Buffer | string): void => {
      const chars = [...(typeof chunk === 'string' ? chunk : decoder.write(chunk))];
      for (let i = 0; i < chars.length; i++) {
        const c = chars[i]!;
        if (escape !== null) {
          if (escape === '' && (c === '[' || c === 'O')) {
            escape = c;
            continue;
          }
          if (escape.length > 0 && /[0-9;?]/.test(c)) {
            escape += c;
            continue;
          }
          // the final byte: ESC[200~ starts a paste, ESC[201~ ends it; anything else is a key to ignore
          const sequence = escape + c;
          escape = null;
          if (sequence === '[200~') pasting = true;
          else if (sequence === '[201~' && pasting) {
            pasting = false;
            const outcome = endPaste();
            if (outcome === 'refused') return finish(severalLines());
            if (outcome === 'done') return finish(null);
          }
          continue;
        }
        if (c === '\u001b') {
          escape = '';
          continue;
        }
        if (pasting) {
          pasted += c;
          continue;
        }
        if (c === '\u0003') return finish(cancelledError());
        if (c === '\u0004') {
          if (multiline) return finish(null);
          if (text === '') return finish(cancelledError());
          continue;
        }
        if (c === '\r' || c === '\n') {
          if (c === '\r' && chars[i + 1] === '\n') i++;
          if (multiline) {
            text += '\n';
            continue;
          }
          // More than line ends after this one in the same read: a paste of several lines
          // from a terminal without bracketed paste.
          if (/[^\r\n]/.test(chars.slice(i + 1).join(''))) return finish(severalLines());
          return finish(null);
        }
        if (c === '\u007f' || c === '\b') {
          const all = [...text];
          if (all.length > 0 && all.at(-1) !== '\n') text = all.slice(0, -1).join('');
          continue;
        }
        if (c === '\u0015') {
          const nl = text.lastIndexOf('\n');
          text = nl === -1 ? '' : text.slice(0, nl + 1);
          continue;
        }
        if (c < ' ' && c !== '\t') continue;
        text += c;
      }
    };
    stdin.setRawMode!(true);
    stdin.on('data', onData);
    stdin.on('end', onEnd);
    stdin.resume();
  });
}

export async function promptHidden(io: IO, message: string): Promise<Buffer> {
  return readHidden(io, message);
}

/** A value at a one-line prompt (or several lines with `multiline`); an empty answer is asked again, three times at most. */
export async function promptValue(io: IO, label: string, options: { multiline?: boolean } = {}): Promise<Buffer> {
  for (let attempt = 1; ; attempt++) {
    const value = await readHidden(io, `Value for ${label}`, options);
    if (value.length > 0 && !(options.multiline && /^\n*$/.test(value.toString('latin1')))) return value;
    if (attempt === 3) throw new VaultError('usage', `empty value for ${label}; nothing was stored`, { hint: 'vault stores no empty values' });
    io.stderr.write('vault: the value is empty; type it, or press Ctrl-C to cancel\n');
  }
}

/** Asks twice; too short or a mismatch is asked again from an empty field (three tries). */
export async function promptNewPassphrase(io: IO, message: string): Promise<Buffer> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const first = await readHidden(io, message);
    if (first.length < 8) {
      first.fill(0);
      io.stderr.write('vault: use at least 8 characters; try again\n');
      continue;
    }
    const second = await readHidden(io, 'Repeat it');
    if (first.equals(second)) {
      second.fill(0);
      return first;
    }
    first.fill(0);
    second.fill(0);
    io.stderr.write('vault: the passphrases did not match; try again\n');
  }
  throw new VaultError('usage', 'no new passphrase was given: too short or not repeated the same');
}

/** A yes/no question; Ctrl-C is `cancelled` (130), a "no" is the caller's to handle (not an error). */
export async function promptConfirm(io: IO, message: string, defaultAnswer = false): Promise<boolean> {
  const { confirm } = await import('@inquirer/prompts');
  try {
    return await confirm({ message, default: defaultAnswer }, { input: io.stdin, output: io.stderr, clearPromptOnDone: false });
  } catch (e) {
    const name = (e as { name?: string }).name;
    if (name === 'ExitPromptError' || name === 'AbortPromptError') throw cancelledError();
    throw e;
  }
}
