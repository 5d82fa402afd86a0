import { VaultError } from '../core/errors.js';
import { isValidName, looksLikeReference, parseReference, type VersionedRef } from '../core/names.js';
import { parseDotenvLines } from './dotenv.js';

/**
 * `vault exec --env-file F`: a dotenv file whose values are passed as written, except a value
 * that is a whole `vault://NS/NAME[@VERSION]` reference, which is resolved from the vault.
 * Unlike `vault import`, which accepts what the dotenv package accepts, a line dotenv would
 * skip silently is an error here: a variable the user meant to set would silently be missing.
 */

export interface EnvFileEntry {
  key: string;
  file: string;
  line: number;
  /** the value as written, when it is not a reference */
  value?: string;
  /** the secret the value refers to */
  ref?: VersionedRef;
}

/** `file:line`, how every message about an entry names it. */
export function where(entry: { file: string; line: number }): string {
  return `${entry.file}:${entry.line}`;
}

/**
 * Parses one env file. `vault://NAME` refers to `defaultNs`. Refusals (usage): a line that does
 * not parse, a malformed reference, a value holding a NUL byte. A message names the file, the
 * line and the variable (only when its key is a valid name), never any other text of the file:
 * a value, a malformed reference or a mistyped key may all be secret material.
 */
export function parseEnvFile(text: string, file: string, defaultNs: string): EnvFileEntry[] {
  const { entries, invalid } = parseDotenvLines(text);
  if (invalid.length > 0) {
    const lines = invalid.map((l) => l.line);
    throw new VaultError('usage', lines.length === 1 ? `${file}:${lines[0]}: not a NAME=VALUE line` : `${file}: lines ${lines.join(', ')} are not NAME=VALUE lines`, {
      hint: 'an env file holds NAME=VALUE lines; values may be vault://NS/NAME[@VERSION] references',
    });
  }
  const out: EnvFileEntry[] = [];
  for (const { key, value, line } of entries) {
    const entry: EnvFileEntry = { key, file, line };
    const what = isValidName(key) ? `the value of ${key}` : 'the value';
    if (value.includes('\0')) throw new VaultError('usage', `${file}:${line}: ${what} holds a NUL byte, which an environment variable cannot carry`);
    if (looksLikeReference(value)) {
      try {
        entry.ref = parseReference(value, defaultNs);
      } catch {
        // parseReference's message quotes the part it rejects; neither it nor the error
        // (as a cause, printed by --debug) may reach the output.
        throw new VaultError('usage', `${file}:${line}: ${what} is not a valid vault:// reference`, { hint: REFERENCE_HINT });
      }
    } else {
      entry.value = value;
    }
    out.push(entry);
  }
  return out;
}

const REFERENCE_HINT = 'a reference is vault://NS/NAME or vault://NAME, optionally followed by @VERSION (a whole number from 1)';
