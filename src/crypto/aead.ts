import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** AES-256-GCM with a fresh random 96-bit nonce per encryption and a 128-bit tag. */
export const KEY_BYTES = 32;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;

export interface Sealed {
  nonce: Buffer;
  /** ciphertext followed by the 16-byte tag */
  box: Buffer;
}

const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let poolAt = 0;

/**
 * Random bytes for what is stored in the clear and must only never repeat: AES-GCM nonces and
 * secret uids. They come from node's CSPRNG as any randomBytes() does, drawn 4 KiB at a time:
 * a randomBytes() call costs about 7 µs whatever its size up to kilobytes, and an import of
 * 10,000 secrets made 20,000 of them, a fifth of its time. Each byte is handed out once. Never
 * for keys: a key is not drawn before it is needed, to sit in memory beside others.
 */
export function publicRandom(size: number): Buffer {
  if (size > POOL_BYTES) return randomBytes(size);
  if (poolAt + size > pool.length) {
    pool = randomBytes(POOL_BYTES);
    poolAt = 0;
  }
  const out = pool.subarray(poolAt, poolAt + size);
  poolAt += size;
  return out;
}

export function seal(key: Buffer, plaintext: Buffer, aad: Buffer): Sealed {
  if (key.length !== KEY_BYTES) throw new RangeError('AES-256-GCM needs a 32-byte key');
  const nonce = publicRandom(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const box = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return { nonce, box };
}

/** Returns the plaintext, or null when the tag does not verify (wrong key, AAD or bytes). */
export function open(key: Buffer, nonce: Buffer, box: Buffer, aad: Buffer): Buffer | null {
  if (key.length !== KEY_BYTES || nonce.length !== NONCE_BYTES || box.length < TAG_BYTES) return null;
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(box.subarray(box.length - TAG_BYTES));
  const head = decipher.update(box.subarray(0, box.length - TAG_BYTES));
  try {
    const tail = decipher.final();
    return tail.length === 0 ? head : Buffer.concat([head, tail]);
  } catch {
    head.fill(0);
    return null;
  }
}

/**
 * Associated data: a domain label then each field as a 4-byte big-endian length and its
 * UTF-8 bytes, so that no two different field lists encode to the same bytes.
 */
export function encodeAad(label: string, fields: ReadonlyArray<string | number | Buffer>): Buffer {
  return encodeFields(label, fields);
}

/**
 * encodeAad(label, [...lead, ...fields]) when `prefix` is encodeAad(label, lead): for a label and
 * leading fields that stay the same over many calls (a vault's id), encoded once.
 */
export function encodeAadAfter(prefix: Buffer, fields: ReadonlyArray<string | number | Buffer>): Buffer {
  return encodeFields(prefix, fields);
}

/** `head` (the label, or the encoded label and leading fields), then each field. */
function encodeFields(head: string | Buffer, fields: ReadonlyArray<string | number | Buffer>): Buffer {
  // One allocation, sized first: the bulk commands encode two of these per secret, so short
  // ASCII text (names, namespaces, ids) and whole numbers are measured and copied here in
  // JavaScript, not through a native call, a string or a bounds-checked write per field.
  let size = typeof head === 'string' ? 4 + textLength(head) : head.length;
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!;
    size += 4 + (typeof field === 'string' ? textLength(field) : typeof field === 'number' ? numberLength(field) : field.length);
  }
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  if (typeof head === 'string') {
    at = putText(out, 0, head);
  } else {
    out.set(head, 0);
    at = head.length;
  }
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!;
    if (typeof field === 'string') {
      at = putText(out, at, field);
    } else if (typeof field === 'number') {
      at = putNumber(out, at, field);
    } else {
      at = putLength(out, at, field.length);
      out.set(field, at);
      at += field.length;
    }
  }
  return out;
}

/** A field's 4-byte big-endian length at `at` (size is below 2^32: a Buffer's length); returns the end. */
function putLength(out: Buffer, at: number, length: number): number {
  out[at] = length >>> 24;
  out[at + 1] = (length >>> 16) & 0xff;
  out[at + 2] = (length >>> 8) & 0xff;
  out[at + 3] = length & 0xff;
  return at + 4;
}

/** 10^1 .. 10^15: a whole number below 10^k has at most k digits. */
const POWERS = Array.from({ length: 15 }, (_, k) => 10 ** (k + 1));

/** How many decimal digits String(n) has when n is a whole number from 0 to 2^53 - 1; -1 otherwise. */
function digits(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) return -1;
  let count = 1;
  while (count <= POWERS.length && n >= POWERS[count - 1]!) count++;
  return count;
}

/** The UTF-8 length of String(n). */
function numberLength(n: number): number {
  const count = digits(n);
  return count === -1 ? textLength(String(n)) : count;
}

/** Writes String(n) as a field (its length, then its digits) at `at`; returns the end. */
function putNumber(out: Buffer, at: number, n: number): number {
  const count = digits(n);
  if (count === -1) return putText(out, at, String(n));
  at = putLength(out, at, count);
  let rest = n;
  for (let i = at + count - 1; i >= at; i--) {
    const digit = rest % 10;
    out[i] = 0x30 + digit;
    rest = (rest - digit) / 10;
  }
  return at + count;
}

/** The UTF-8 length of `text`: counted here when it is short ASCII. */
function textLength(text: string): number {
  if (text.length > 64) return Buffer.byteLength(text, 'utf8');
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return Buffer.byteLength(text, 'utf8');
  return text.length;
}

/** Writes `text`'s 4-byte big-endian UTF-8 length, then its UTF-8 bytes, at `at`; returns the end. */
function putText(out: Buffer, at: number, text: string): number {
  const length = textLength(text);
  at = putLength(out, at, length);
  if (length === text.length && length <= 64) {
    // ASCII: one byte per character.
    for (let i = 0; i < length; i++) out[at + i] = text.charCodeAt(i);
    return at + length;
  }
  return at + out.write(text, at, 'utf8');
}

export function wipe(...buffers: Array<Buffer | null | undefined>): void {
  for (const b of buffers) b?.fill(0);
}
