import { randomInt } from 'node:crypto';
import { VaultError } from '../core/errors.js';

/**
 * Generated secrets for `vault rotate --generate`. Each character is drawn with
 * crypto.randomInt, which rejects out-of-range samples instead of reducing modulo the
 * alphabet size, so every character of the set is equally likely.
 */

function range(from: number, to: number): string {
  let s = '';
  for (let c = from; c <= to; c++) s += String.fromCharCode(c);
  return s;
}

const UPPER = range(0x41, 0x5a);
const LOWER = range(0x61, 0x7a);
const DIGITS = range(0x30, 0x39);

export const CHARSETS = {
  /** A-Z a-z 0-9 (62): safe in shells, URLs and .env files; the default */
  alnum: UPPER + LOWER + DIGITS,
  /** A-Z a-z (52) */
  alpha: UPPER + LOWER,
  /** 0-9 (10): PINs */
  num: DIGITS,
  /** 0-9 a-f (16), lower case */
  hex: DIGITS + 'abcdef',
  /** A-Z a-z 0-9 - _ (64), the RFC 4648 URL-safe alphabet */
  base64url: UPPER + LOWER + DIGITS + '-_',
  /** every printable ASCII character except space, 0x21-0x7e (94) */
  ascii: range(0x21, 0x7e),
} as const;

export type Charset = keyof typeof CHARSETS;

export const DEFAULT_CHARSET: Charset = 'alnum';
export const DEFAULT_LENGTH = 32;
export const MIN_LENGTH = 8;
export const MAX_LENGTH = 4096;

export function isCharset(name: string): name is Charset {
  return Object.prototype.hasOwnProperty.call(CHARSETS, name);
}

export function parseLength(text: string): number {
  if (!/^[0-9]{1,6}$/.test(text) || Number(text) < MIN_LENGTH || Number(text) > MAX_LENGTH) {
    throw new VaultError('usage', `invalid length ${JSON.stringify(text)} for --generate`, {
      hint: `give a whole number from ${MIN_LENGTH} to ${MAX_LENGTH}, e.g. --generate=48`,
    });
  }
  return Number(text);
}

/** A random string of `length` characters from `charset`, as bytes (ASCII). */
export function generateSecret(length: number, charset: Charset = DEFAULT_CHARSET): Buffer {
  if (!Number.isInteger(length) || length < MIN_LENGTH || length > MAX_LENGTH) throw new RangeError('length out of range');
  const alphabet = CHARSETS[charset];
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = alphabet.charCodeAt(randomInt(alphabet.length));
  return out;
}
