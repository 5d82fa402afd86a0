/**
 * Serialisers behind `vault env` and `vault export`: secrets in, one Buffer out. They do no
 * I/O. Every refusal is a VaultError('usage') that names the secret and says which property
 * of its value is the problem, never the value itself.
 *
 * Shared preconditions, checked by all three: names are environment-variable names
 * (`isValidName`), each name appears once (a repeated name would make the output mean
 * "last one wins" in one format and be ambiguous in another), and no value contains a NUL
 * byte (no environment variable can hold one, so such a value can never reach a process).
 */
import { VaultError } from '../core/errors.js';
import { isValidName } from '../core/names.js';
import { dotenvEntries } from './dotenv.js';

export interface FormatEntry {
  name: string;
  value: Buffer;
}

/**
 * `export NAME='value'` lines, one per entry, each ending in LF, for `eval` or `.` in bash, zsh
 * and POSIX sh. Any value without NUL survives byte for byte, invalid UTF-8 included: inside
 * single quotes every byte but `'` is literal in all three shells, and `'` is written as
 * `'\''` (close, escaped quote, reopen). Byte-level replacement is safe because 0x27 never
 * occurs inside a multi-byte UTF-8 sequence.
 */
export function formatShell(entries: FormatEntry[]): Buffer {
  checkEntries(entries);
  const parts: Buffer[] = [];
  for (const { name, value } of entries) {
    parts.push(Buffer.from(`export ${name}='`, 'latin1'));
    let from = 0;
    for (let i = value.indexOf(0x27); i !== -1; i = value.indexOf(0x27, i + 1)) {
      parts.push(value.subarray(from, i), SHELL_QUOTE);
      from = i + 1;
    }
    parts.push(value.subarray(from), SHELL_END);
  }
  return Buffer.concat(parts);
}

const SHELL_QUOTE = Buffer.from(`'\\''`, 'latin1');
const SHELL_END = Buffer.from(`'\n`, 'latin1');

/**
 * `NAME=…` lines, one per entry, each ending in LF, such that `dotenv.parse(output)` returns
 * exactly these names and values (in this order). Each value gets the first of these forms
 * that dotenv reads back unchanged regardless of the lines around it (a value holding a
 * newline tries 2 first, so that every entry stays on one line of the file):
 *
 *  1. `'…'` — literal; needs: no CR (dotenv turns CR into LF before parsing), every `'`
 *     preceded by a backslash (dotenv has no escape: a bare `'` ends the value, while `\'`
 *     lets it continue but keeps the backslash), and no trailing backslash (it would make the
 *     closing quote look escaped, and dotenv would keep searching later lines for a closer).
 *  2. `"…"` with LF written as `\n` and CR as `\r`; needs the same for `"` and the trailing
 *     backslash, and no literal backslash-n or backslash-r pair (dotenv would expand it).
 *  3. `` `…` `` — like single quotes.
 *  4. unquoted; needs: no `#` (comment), no line break, no leading or trailing whitespace
 *     (trimmed), and no quote char first (it would be read as quoted). This form is the only
 *     one that can end in a backslash.
 *
 * Throws VaultError('usage') for a value none of these can carry — for example one containing
 * all three quote characters unescaped and a `#` or newline — and for a value that is not
 * valid UTF-8 (dotenv reads text). The message lists why each form fails.
 */
export function formatDotenv(entries: FormatEntry[]): Buffer {
  checkEntries(entries);
  const texts: string[] = [];
  let out = '';
  for (const { name, value } of entries) {
    const text = decodeUtf8(value);
    if (text === null) {
      throw new VaultError('usage', `secret ${name} cannot be written as dotenv: its value is not valid UTF-8 text`, {
        hint: 'the shell format can carry any bytes',
      });
    }
    const encoded = encodeDotenvValue(text);
    if (typeof encoded !== 'string') {
      throw new VaultError('usage', `secret ${name} cannot be written as dotenv: ${encoded.reasons.join('; ')}`, {
        hint: 'the shell and JSON formats can carry it',
      });
    }
    texts.push(text);
    out += `${name}=${encoded}\n`;
  }
  // The rules above are derived from dotenv's parser; reading the result back with a parser that
  // matches dotenv exactly turns any gap in that derivation into an error instead of a silently
  // different secret in someone's .env file. Read back, it must be exactly these entries in
  // this order (dotenvEntries leaves out a __proto__ entry, as dotenv drops it).
  const back = dotenvEntries(out);
  const differs = (name: string): VaultError => new VaultError('error', `internal error: dotenv output for secret ${name} does not read back unchanged`);
  for (let i = 0; i < entries.length; i++) if (back[i]?.key !== entries[i]!.name || back[i]!.value !== texts[i]) throw differs(entries[i]!.name);
  if (back.length > entries.length) throw differs(entries[entries.length - 1]!.name);
  return Buffer.from(out, 'utf8');
}

/**
 * `{"NAME":"value",…}` on one line, then LF, names in the given order. Values must be valid
 * UTF-8: JSON strings are Unicode text, and guessing an encoding for other bytes would hand
 * the consumer a different secret.
 */
export function formatJson(entries: FormatEntry[]): Buffer {
  checkEntries(entries);
  const members: string[] = [];
  for (const { name, value } of entries) {
    const text = decodeUtf8(value);
    if (text === null) {
      throw new VaultError('usage', `secret ${name} cannot be written as JSON: its value is not valid UTF-8 text`, {
        hint: 'the shell format can carry any bytes',
      });
    }
    members.push(`${JSON.stringify(name)}:${JSON.stringify(text)}`);
  }
  return Buffer.from(`{${members.join(',')}}\n`, 'utf8');
}

// ---------------------------------------------------------------------------------------------

function checkEntries(entries: FormatEntry[]): void {
  const seen = new Set<string>();
  for (const { name, value } of entries) {
    if (!isValidName(name)) {
      throw new VaultError('usage', `invalid variable name ${JSON.stringify(name)}`, {
        hint: 'a name is letters, digits and "_", not starting with a digit',
      });
    }
    if (seen.has(name)) throw new VaultError('usage', `secret ${name} is given twice`);
    seen.add(name);
    if (value.includes(0)) {
      throw new VaultError('usage', `secret ${name} contains a NUL byte, which no environment variable can hold`);
    }
  }
}

/** `ignoreBOM` keeps a leading U+FEFF as part of the value instead of eating it as a BOM. */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeUtf8(bytes: Buffer): string | null {
  try {
    return UTF8.decode(bytes);
  } catch {
    return null;
  }
}

type FormResult = { text: string } | { reason: string };

/** Why `body` cannot sit between `q` quotes, or null when it can. */
function quotedProblem(body: string, q: string): string | null {
  for (let i = body.indexOf(q); i !== -1; i = body.indexOf(q, i + 1)) {
    if (body[i - 1] !== '\\') return `it contains a ${q} not preceded by a backslash`;
  }
  if (body.endsWith('\\')) return 'it ends with a backslash, which would escape the closing quote';
  return null;
}

function literalQuoted(v: string, q: string, what: string): FormResult {
  const problem = v.includes('\r') ? 'it contains a carriage return' : quotedProblem(v, q);
  return problem === null ? { text: `${q}${v}${q}` } : { reason: `${what}: ${problem}` };
}

function singleForm(v: string): FormResult {
  return literalQuoted(v, "'", 'single quotes');
}

function backtickForm(v: string): FormResult {
  return literalQuoted(v, '`', 'backticks');
}

function doubleForm(v: string): FormResult {
  // dotenv expands \n and nothing can stop it, so a value holding those two characters
  // cannot come out of double quotes unchanged.
  if (v.includes('\\n') || v.includes('\\r')) {
    return { reason: 'double quotes: it contains a backslash followed by n or r, which dotenv would turn into a line break' };
  }
  const body = v.replaceAll('\n', '\\n').replaceAll('\r', '\\r');
  const problem = quotedProblem(body, '"');
  return problem === null ? { text: `"${body}"` } : { reason: `double quotes: ${problem}` };
}

function bareForm(v: string): FormResult {
  let problem: string | null = null;
  if (/[\n\r\u2028\u2029]/.test(v)) problem = 'it contains a line break';
  else if (v.includes('#')) problem = 'it contains #, which starts a comment';
  else if (/^\s|\s$/.test(v)) problem = 'it has leading or trailing whitespace, which dotenv trims';
  else if (/^['"`]/.test(v)) problem = 'it starts with a quote character';
  return problem === null ? { text: v } : { reason: `unquoted: ${problem}` };
}

/**
 * The dotenv text for one value, or the reasons every form fails. A value with a newline
 * tries double quotes first so that each entry stays on one line of the file; otherwise the
 * literal single quotes come first.
 */
function encodeDotenvValue(v: string): string | { reasons: string[] } {
  const forms = v.includes('\n') ? NEWLINE_FIRST : SINGLE_FIRST;
  let reasons: string[] | null = null;
  for (const form of forms) {
    const r = form(v);
    if ('text' in r) return r.text;
    (reasons ??= []).push(r.reason);
  }
  return { reasons: reasons ?? [] };
}

const NEWLINE_FIRST = [doubleForm, singleForm, backtickForm, bareForm];
const SINGLE_FIRST = [singleForm, doubleForm, backtickForm, bareForm];
