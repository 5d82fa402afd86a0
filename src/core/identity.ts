import { createHash, randomBytes } from 'node:crypto';
import { wipe } from '../crypto/aead.js';
import { slotPublicKey } from '../crypto/slotwrap.js';
import { VaultError } from './errors.js';
import type { SecretRef } from './names.js';
import type { Vault } from './vault.js';

/**
 * A user's identity for team vaults (issue 11): an X25519 key pair whose private half is a
 * random 32-byte secret kept in the user's own (personal, local) vault, in a reserved
 * namespace, so the same passphrase, keychain or session protects it. The public half is
 * derived the way a key slot's is from its KEK (src/crypto/slotwrap.ts slotPublicKey), so a
 * member slot of a team vault can be the identity's own: the secret opens it as a KEK would.
 */
export const IDENTITY_REF: SecretRef = { ns: 'vault.identity', name: 'X25519_KEY' };

const PUBLIC_PREFIX = 'vault-pub1';

export interface Identity {
  /** `vault-pub1` and the 32-byte public key in base64url */
  publicKey: string;
  /** a short hash of the public key, to compare out of band: five groups of four hex digits */
  fingerprint: string;
  /** whether this call made the identity */
  created: boolean;
}

export function formatPublicKey(raw: Buffer): string {
  return PUBLIC_PREFIX + raw.toString('base64url');
}

/** The raw 32-byte key of a `vault-pub1…` text; usage error when it is not one. */
export function parsePublicKey(text: string): Buffer {
  const body = text.startsWith(PUBLIC_PREFIX) ? text.slice(PUBLIC_PREFIX.length) : '';
  const raw = Buffer.from(body, 'base64url');
  if (raw.length !== 32 || raw.toString('base64url') !== body) {
    throw new VaultError('usage', 'not a vault public key', { hint: 'a public key looks like vault-pub1<43 base64url characters>, as printed by vault identity' });
  }
  return raw;
}

export function fingerprint(raw: Buffer): string {
  return inGroups(createHash('sha256').update('vault/identity-fingerprint/v1\0').update(raw).digest('hex'));
}

/** The first 20 hex digits of a digest as five groups of four, the form every fingerprint takes. */
export function inGroups(hex: string): string {
  return hex.slice(0, 20).match(/.{4}/g)!.join(' ');
}

/**
 * This user's identity from their unlocked personal vault, made on first use (a put of a new
 * random secret, audited as any put). The private half never leaves this function but into
 * the vault.
 */
export function ensureIdentity(vault: Vault): Identity {
  let secret: Buffer;
  let created = false;
  if (vault.findSecret(IDENTITY_REF, false)) {
    secret = vault.get(IDENTITY_REF).value;
    if (secret.length !== 32) {
      wipe(secret);
      throw new VaultError('integrity', `the identity kept in ${IDENTITY_REF.ns}/${IDENTITY_REF.name} is not a 32-byte key`, {
        hint: 'it was replaced by hand; restore it with vault rollback, or remove it to make a new identity (team vaults must then add the new key)',
      });
    }
  } else {
    secret = randomBytes(32);
    vault.put(IDENTITY_REF, secret, { description: 'identity for team vaults (X25519); made by vault identity' });
    created = true;
  }
  try {
    const raw = slotPublicKey(secret);
    return { publicKey: formatPublicKey(raw), fingerprint: fingerprint(raw), created };
  } finally {
    wipe(secret);
  }
}
