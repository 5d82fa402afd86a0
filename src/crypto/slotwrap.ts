import { createHmac, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, timingSafeEqual, type KeyObject } from 'node:crypto';
import { encodeAad, open, seal, wipe } from './aead.js';

/**
 * How a key slot wraps the data key: to an X25519 public key, not directly under the KEK.
 *
 * Why: `rotate --master` must re-wrap a new data key for every remaining slot, but it cannot
 * re-derive every slot's KEK (a master key is printed once and never stored; a passphrase may
 * not be at hand). A symmetric "stable slot key" kept somewhere the unlocked vault can read
 * would let anyone who once held the old data key (or a revoked key) and an old copy of the
 * file follow the chain to the new data key, which is exactly what rotating should stop.
 * So each slot holds a key pair instead: the private half is derived from the slot's KEK
 * (passphrase → scrypt/PBKDF2, master key → HKDF, keychain → random 256-bit key) and never
 * stored; the public half is stored in the slot. Wrapping the data key is ECIES-style:
 * an ephemeral X25519 key pair, ECDH with the slot's public key, HKDF-SHA256 to an AES key,
 * AES-256-GCM of the data key with the slot's associated data. Rotation needs only public
 * keys, so every slot keeps working, and nothing in an old file leads to the new data key.
 *
 * A slot's public key is authenticated by an HMAC under a key derived from the data key,
 * checked before rotation wraps a new data key to it: someone who can write the file but
 * holds no key cannot swap in a public key of their own and catch the next data key.
 */

const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519 = Buffer.from('302a300506032b656e032100', 'hex');

export const PUBLIC_KEY_BYTES = 32;

function privateKeyFromKek(kek: Buffer): KeyObject {
  const seed = Buffer.from(hkdfSync('sha256', kek, Buffer.alloc(0), 'vault/slot-x25519/v1', 32));
  const der = Buffer.concat([PKCS8_X25519, seed]);
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } finally {
    wipe(seed, der);
  }
}

function rawPublicKey(key: KeyObject): Buffer {
  const pub = key.type === 'public' ? key : createPublicKey(key);
  return pub.export({ format: 'der', type: 'spki' }).subarray(SPKI_X25519.length);
}

function publicKeyObject(raw: Buffer): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_X25519, raw]), format: 'der', type: 'spki' });
}

function wrapKey(shared: Buffer, ephemeral: Buffer, recipient: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, Buffer.concat([ephemeral, recipient]), 'vault/slot-wrap/v2', 32));
}

/** The public key of the slot whose KEK is `kek` (32 bytes). */
export function slotPublicKey(kek: Buffer): Buffer {
  return rawPublicKey(privateKeyFromKek(kek));
}

export interface SlotWrap {
  ephemeralKey: Buffer;
  nonce: Buffer;
  box: Buffer;
}

/**
 * Wraps `dataKey` to a slot's public key. `aad(ephemeralKey)` gives the associated data,
 * which binds the fresh ephemeral key along with the slot's own fields.
 */
export function wrapToPublicKey(publicKey: Buffer, dataKey: Buffer, aad: (ephemeralKey: Buffer) => Buffer): SlotWrap {
  if (publicKey.length !== PUBLIC_KEY_BYTES) throw new RangeError('an X25519 public key is 32 bytes');
  const eph = generateKeyPairSync('x25519');
  const ephemeralKey = rawPublicKey(eph.publicKey);
  const shared = diffieHellman({ privateKey: eph.privateKey, publicKey: publicKeyObject(publicKey) });
  const key = wrapKey(shared, ephemeralKey, publicKey);
  try {
    const { nonce, box } = seal(key, dataKey, aad(ephemeralKey));
    return { ephemeralKey, nonce, box };
  } finally {
    wipe(shared, key);
  }
}

/**
 * Unwraps with the slot's KEK. Null when the KEK is wrong (its public key differs from the
 * stored one), or the wrap or its associated data was altered.
 */
export function unwrapWithKek(kek: Buffer, publicKey: Buffer, wrap: SlotWrap, aad: Buffer): Buffer | null {
  if (publicKey.length !== PUBLIC_KEY_BYTES || wrap.ephemeralKey.length !== PUBLIC_KEY_BYTES) return null;
  const priv = privateKeyFromKek(kek);
  if (!timingSafeEqual(rawPublicKey(priv), publicKey)) return null;
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: priv, publicKey: publicKeyObject(wrap.ephemeralKey) });
  } catch {
    // a low-order ephemeral point gives an all-zero secret, which OpenSSL refuses
    return null;
  }
  const key = wrapKey(shared, wrap.ephemeralKey, publicKey);
  try {
    return open(key, wrap.nonce, wrap.box, aad);
  } finally {
    wipe(shared, key);
  }
}

/** The MAC that binds a slot's public key (and how its KEK is derived) to this vault's data key. */
export function slotMac(dataKey: Buffer, fields: ReadonlyArray<string | number | Buffer>): Buffer {
  const macKey = Buffer.from(hkdfSync('sha256', dataKey, Buffer.alloc(0), 'vault/slot-mac/v1', 32));
  try {
    return createHmac('sha256', macKey).update(encodeAad('vault/slot-mac/v1', fields)).digest();
  } finally {
    wipe(macKey);
  }
}

export function macEqual(a: Buffer | null, b: Buffer): boolean {
  return a !== null && a.length === b.length && timingSafeEqual(a, b);
}
