import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, timingSafeEqual, type KeyObject } from 'node:crypto';
import { encodeAad, open, seal, wipe } from './aead.js';

/**
 * How a key slot holds the data key (docs/security.md, "Key slots").
 *
 * Each slot has a KEK (passphrase -> scrypt/PBKDF2, master key -> HKDF, keychain -> a random
 * 256-bit key) and, derived from it, an X25519 key pair whose public half is stored.
 *
 * The slot's own wrap is SEALED: AES-256-GCM of the data key under a key derived from the KEK,
 * with the slot's fields as associated data. Only someone who holds the slot's secret can make
 * it, so a writer of the file cannot plant a data key of their own in it (the public-key wrap
 * of 0.1 could be made by anyone, since every input to it is in the file).
 *
 * `rotate --master` cannot re-derive every slot's KEK (a master key is printed once and never
 * stored), so for a slot whose secret is not at hand it appends a PENDING LINK: the new data
 * key wrapped to the slot's public key (ephemeral X25519, HKDF, AES-GCM: only the slot's
 * secret opens it) and a MAC under the data key the slot already holds (only a holder of that
 * key can make it). At the slot's next unlock the chain sealed key -> link -> link ... is
 * followed, each step checked, and the slot is re-sealed to the newest key. A revoked key and
 * an old copy of the file never reach the new data key: no link is readable without the
 * remaining slot's secret.
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

function sealKey(kek: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', kek, Buffer.alloc(0), 'vault/slot-seal/v3', 32));
}

/** Seals `dataKey` under the slot's KEK; `aad` binds the slot's fields. */
export function sealToKek(kek: Buffer, dataKey: Buffer, aad: Buffer): { nonce: Buffer; box: Buffer } {
  const key = sealKey(kek);
  try {
    return seal(key, dataKey, aad);
  } finally {
    wipe(key);
  }
}

/** Opens a sealed wrap; null when the KEK, the wrap or its associated data is not the one sealed. */
export function openWithKek(kek: Buffer, nonce: Buffer, box: Buffer, aad: Buffer): Buffer | null {
  const key = sealKey(kek);
  try {
    return open(key, nonce, box, aad);
  } finally {
    wipe(key);
  }
}

/** Whether `kek` is the slot's: its public key is the stored one (a wrong passphrase, not tampering, when not). */
export function kekMatches(kek: Buffer, publicKey: Buffer): boolean {
  return publicKey.length === PUBLIC_KEY_BYTES && timingSafeEqual(slotPublicKey(kek), publicKey);
}
