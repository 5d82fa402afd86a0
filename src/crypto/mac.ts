import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { encodeAad, encodeAadAfter } from './aead.js';

/**
 * Keyed MACs over canonical field lists (HMAC-SHA256), and the subkeys they use. Every MAC
 * has its own label, so a MAC made for one purpose never verifies for another.
 */

export type Field = string | number | Buffer;

/** A 32-byte subkey of `key` for one purpose (HKDF-SHA256, empty salt). */
export function subkey(key: Buffer, label: string): Buffer {
  return Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), label, 32));
}

export function mac(key: Buffer, label: string, fields: ReadonlyArray<Field>): Buffer {
  return createHmac('sha256', key).update(encodeAad(label, fields)).digest();
}

/** mac(key, label, [...lead, ...fields]) when `prefix` is encodeAad(label, lead) (see encodeAadAfter). */
export function macAfter(key: Buffer, prefix: Buffer, fields: ReadonlyArray<Field>): Buffer {
  return createHmac('sha256', key).update(encodeAadAfter(prefix, fields)).digest();
}

export function macEqual(a: Buffer | null | undefined, b: Buffer): boolean {
  return a !== null && a !== undefined && a.length === b.length && timingSafeEqual(a, b);
}
