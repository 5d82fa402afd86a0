import { randomBytes } from 'node:crypto';
import { encodeAad, wipe } from '../crypto/aead.js';
import { canonicalParams, deriveKek, kdfWork, parseKdf, SALT_BYTES, UNLOCK_WORK_BUDGET, type KdfSpec } from '../crypto/kdf.js';
import { mac, macEqual, subkey } from '../crypto/mac.js';
import { kekMatches, openWithKek, PUBLIC_KEY_BYTES, sealToKek, slotPublicKey, unwrapWithKek, wrapToPublicKey } from '../crypto/slotwrap.js';
import { VaultError } from '../core/errors.js';
import type { SlotKind, SlotRow } from '../store/slots.js';

/**
 * The keyring: how key slots hold the data key, and how an unlock gets it back
 * (src/crypto/slotwrap.ts explains the two kinds of wrap; docs/security.md the whole design).
 * Pure: rows in, rows or keys out; the vault facade reads and writes them.
 */

/** The ciphertext and keyring format this release writes; 1 was release 0.1's. */
export const FORMAT_VERSION = 2;

/** The KDFs each slot kind may use: a passphrase slot switched to a cheap KDF is a downgrade. */
const KDFS_OF_KIND: Record<SlotKind, readonly string[]> = {
  passphrase: ['scrypt', 'pbkdf2-sha256'],
  'master-key': ['hkdf-sha256'],
  keychain: ['none'],
  member: ['none'],
};

/** More slots than this is not a vault a person made; refused before any work (exit 7). */
export const MAX_SLOTS = 64;

/**
 * More slots of all kinds than this (a team's members included) is not a vault a person made
 * either: refused before any slot MAC is checked, so a writer who plants millions of rows
 * cannot make an unlock spend its time on them (member add stops at it with a usage error).
 */
export const MAX_ALL_SLOTS = 1024;

export function tooManySlots(n: number): VaultError {
  return integrity(`the vault has ${n} key slots, more than the ${MAX_ALL_SLOTS} a vault may have`);
}

const LINK_BYTES = PUBLIC_KEY_BYTES + 12 + 48 + 32;

export function integrity(message: string): VaultError {
  return new VaultError('integrity', message, { hint: 'the vault file may have been tampered with; restore it from a backup' });
}

/** Associated data of a slot's sealed wrap: what deriving its KEK depends on. */
function sealAad(vaultId: string, row: SlotRow): Buffer {
  return encodeAad('vault/slot-seal/v3', [vaultId, FORMAT_VERSION, row.id, row.kind, row.kdf, row.kdf_params, row.salt, row.public_key ?? Buffer.alloc(0)]);
}

/** Associated data of 0.1's public-key wrap (read once, at the slot's first unlock by this release). */
function legacyAad(vaultId: string, row: SlotRow): Buffer {
  return encodeAad('vault/slot/v2', [vaultId, 1, row.id, row.kind, row.kdf, row.kdf_params, row.salt, row.public_key!, row.ephemeral_key!]);
}

function linkAad(vaultId: string, row: SlotRow, index: number, ephemeral: Buffer): Buffer {
  return encodeAad('vault/pending-link/v1', [vaultId, row.id, row.public_key!, index, ephemeral]);
}

/**
 * The slot's MAC under the data key: every field but its last use and its wraps (the wraps
 * authenticate themselves). It makes the slot list a key holder's: a slot planted by a
 * writer of the file fails it, and rotate --master wraps new keys only to slots that pass.
 */
export function slotMac(vaultId: string, dataKey: Buffer, row: SlotRow): Buffer {
  const key = subkey(dataKey, 'vault/slot-mac/v3');
  try {
    return mac(key, 'vault/slot-mac/v3', [vaultId, row.id, row.kind, row.label ?? '\u0000', row.kdf, row.kdf_params, row.salt, row.public_key ?? Buffer.alloc(0), row.created_at]);
  } finally {
    wipe(key);
  }
}

export function slotMacOk(vaultId: string, dataKey: Buffer, row: SlotRow): boolean {
  return macEqual(row.key_mac, slotMac(vaultId, dataKey, row));
}

/** A slot's KDF, checked against the bounds and the kinds before any work is done. */
export function slotKdf(row: SlotRow): KdfSpec {
  const spec = parseKdf(row.kdf, row.kdf_params);
  if (row.kdf_params !== canonicalParams(spec)) throw new VaultError('integrity', `key slot ${row.id} has non-canonical kdf parameters`);
  // A passphrase slot switched to a cheap KDF is a downgrade, refused before any work.
  if (!KDFS_OF_KIND[row.kind]?.includes(spec.name)) throw new VaultError('integrity', `key slot ${row.id} (${row.kind}) cannot use kdf ${spec.name}`);
  if (!row.public_key || row.public_key.length !== PUBLIC_KEY_BYTES) throw new VaultError('integrity', `key slot ${row.id} has no public key`);
  // Every slot this code makes has a 16-byte salt; a shorter one was cut by someone else.
  if (row.salt.length < SALT_BYTES) throw new VaultError('integrity', `key slot ${row.id} has a salt shorter than ${SALT_BYTES} bytes`);
  return spec;
}

/**
 * A new slot for `secret`, sealing `dataKey`, with its MAC. The KDF runs here, before any
 * transaction: the write lock must not wait on scrypt.
 */
export async function buildSlot(
  vaultId: string,
  kind: SlotKind,
  label: string | null,
  spec: KdfSpec,
  secret: Buffer,
  dataKey: Buffer,
  createdAt: number,
  id: string = randomBytes(4).toString('hex'),
): Promise<{ row: SlotRow; kek: Buffer }> {
  const salt = randomBytes(SALT_BYTES);
  const kek = await deriveKek(spec, secret, salt);
  const row: SlotRow = {
    id, kind, label, kdf: spec.name, kdf_params: canonicalParams(spec), salt,
    nonce: Buffer.alloc(0), wrapped_key: Buffer.alloc(0), created_at: createdAt, last_used_at: null,
    public_key: slotPublicKey(kek), ephemeral_key: null, key_mac: null, wrap_format: FORMAT_VERSION, pending: null,
  };
  return { row: sealSlot(vaultId, row, kek, dataKey), kek };
}

/** The slot re-sealed to `dataKey` under its KEK: no pending links, format 2, a fresh MAC. */
export function sealSlot(vaultId: string, row: SlotRow, kek: Buffer, dataKey: Buffer): SlotRow {
  const fresh: SlotRow = { ...row, ephemeral_key: null, pending: null, wrap_format: FORMAT_VERSION };
  const { nonce, box } = sealToKek(kek, dataKey, sealAad(vaultId, fresh));
  fresh.nonce = nonce;
  fresh.wrapped_key = box;
  fresh.key_mac = slotMac(vaultId, dataKey, fresh);
  return fresh;
}

/**
 * `rotate --master` for a slot whose secret is not at hand: appends a link that wraps
 * `newKey` to the slot's public key, with a MAC under `currentKey` (the key the slot's chain
 * reaches now), and re-MACs the slot under the new key.
 */
export function appendLink(vaultId: string, row: SlotRow, currentKey: Buffer, newKey: Buffer): SlotRow {
  const links = row.pending ? [row.pending] : [];
  const index = row.pending ? row.pending.length / LINK_BYTES : 0;
  const wrap = wrapToPublicKey(row.public_key!, newKey, (eph) => linkAad(vaultId, row, index, eph));
  const linkKey = subkey(currentKey, 'vault/pending-link/v1');
  let tag: Buffer;
  try {
    tag = mac(linkKey, 'vault/pending-link/v1', [vaultId, row.id, index, wrap.ephemeralKey, wrap.nonce, wrap.box]);
  } finally {
    wipe(linkKey);
  }
  const fresh: SlotRow = { ...row, pending: Buffer.concat([...links, wrap.ephemeralKey, wrap.nonce, wrap.box, tag]) };
  fresh.key_mac = slotMac(vaultId, newKey, fresh);
  return fresh;
}

/**
 * rotate --master for a slot still in 0.1's format (not unlocked since the upgrade): the new
 * key wrapped to its public key as 0.1 did, and a MAC under the new key. Its next unlock
 * re-seals it.
 */
export function rewrapLegacy(vaultId: string, row: SlotRow, newKey: Buffer): SlotRow {
  const fresh: SlotRow = { ...row };
  const wrap = wrapToPublicKey(row.public_key!, newKey, (eph) => legacyAad(vaultId, { ...row, ephemeral_key: eph }));
  fresh.ephemeral_key = wrap.ephemeralKey;
  fresh.nonce = wrap.nonce;
  fresh.wrapped_key = wrap.box;
  fresh.key_mac = slotMac(vaultId, newKey, fresh);
  return fresh;
}

export interface OpenedSlot {
  row: SlotRow;
  dataKey: Buffer;
  /** the slot's KEK: the caller re-seals the slot with it when `stale`, then wipes it */
  kek: Buffer;
  /** the slot has pending links or 0.1's wrap: re-seal it to the data key */
  stale: boolean;
}

/**
 * Opens the slot whose KEK is `kek` (kekMatches said so): its sealed wrap, then each pending
 * link, each checked. Anything that does not open is tampering, not a wrong passphrase: the
 * KEK is the slot's own. `legacyAllowed`: 0.1's public-key wrap may be read (vault format 1,
 * or a slot not yet unlocked since the upgrade; see docs/security.md). `sealed`: the key in the
 * sealed wrap, when the caller has opened it already.
 */
export function openSlot(vaultId: string, row: SlotRow, kek: Buffer, legacyAllowed: boolean, sealed: Buffer | null = null): OpenedSlot {
  let key: Buffer | null;
  if (row.wrap_format === 1) {
    if (!legacyAllowed || !row.ephemeral_key) throw integrity(`key slot ${row.id} is in the format of release 0.1 in a vault that was upgraded`);
    key = unwrapWithKek(kek, row.public_key!, { ephemeralKey: row.ephemeral_key, nonce: row.nonce, box: row.wrapped_key }, legacyAad(vaultId, row));
    if (!key) throw integrity(`key slot ${row.id} failed its integrity check`);
    if (row.pending) throw integrity(`key slot ${row.id} failed its integrity check`);
    return { row, dataKey: key, kek, stale: true };
  }
  if (row.wrap_format !== FORMAT_VERSION) throw integrity(`key slot ${row.id} has an unknown wrap format`);
  const pending = row.pending ?? Buffer.alloc(0);
  if (pending.length % LINK_BYTES !== 0) throw integrity(`key slot ${row.id} has malformed pending keys`);
  let first = 0;
  if (isUnopenedMember(row)) {
    // A member slot not opened yet (member add): no sealed wrap, its first link holds the data
    // key of the day it was added, MACed under that key itself. Only a key holder can make
    // that MAC; the caller then checks the key against the vault's own keys and every slot MAC.
    if (pending.length === 0) throw integrity(`key slot ${row.id} holds no key`);
    key = openLink(vaultId, row, kek, pending, 0, null);
    if (!key) throw integrity(`key slot ${row.id} failed its integrity check: its key was not given by a key holder`);
    first = 1;
  } else {
    key = sealed ?? openWithKek(kek, row.nonce, row.wrapped_key, sealAad(vaultId, row));
    if (!key) throw integrity(`key slot ${row.id} failed its integrity check: it holds a key that was not sealed by its owner`);
  }
  for (let i = first; i * LINK_BYTES < pending.length; i++) {
    const next = openLink(vaultId, row, kek, pending, i, key);
    wipe(key);
    if (!next) throw integrity(`key slot ${row.id} failed its integrity check: a rotated key was not made by a key holder`);
    key = next;
  }
  return { row, dataKey: key, kek, stale: pending.length > 0 };
}

/** A member slot that has never been opened: member add left it no sealed wrap, only a link. */
export function isUnopenedMember(row: SlotRow): boolean {
  return row.kind === 'member' && row.wrapped_key.length === 0;
}

/**
 * Link `index` of `pending` opened with the slot's KEK; its MAC checked under `macKey`, or,
 * when null (a member's first link), under the key it holds. Null when anything fails.
 */
function openLink(vaultId: string, row: SlotRow, kek: Buffer, pending: Buffer, index: number, macKey: Buffer | null): Buffer | null {
  const at = index * LINK_BYTES;
  const eph = pending.subarray(at, at + 32);
  const nonce = pending.subarray(at + 32, at + 44);
  const box = pending.subarray(at + 44, at + 92);
  const tag = pending.subarray(at + 92, at + LINK_BYTES);
  const next = unwrapWithKek(kek, row.public_key!, { ephemeralKey: eph, nonce, box }, linkAad(vaultId, row, index, eph));
  if (!next) return null;
  const linkKey = subkey(macKey ?? next, 'vault/pending-link/v1');
  const ok = macEqual(tag, mac(linkKey, 'vault/pending-link/v1', [vaultId, row.id, index, eph, nonce, box]));
  wipe(linkKey);
  if (!ok) {
    wipe(next);
    return null;
  }
  return next;
}

/**
 * A new member slot (member add): KDF none (the member's identity secret is its KEK), the
 * member's public key, no sealed wrap, and one link that wraps `dataKey` to that public key,
 * MACed under `dataKey`; the slot MAC under `dataKey` is the vouching record. The member's
 * first open follows the link and seals the slot (finishUnlock's re-seal of a stale slot).
 */
export function buildMemberSlot(vaultId: string, name: string, publicKey: Buffer, dataKey: Buffer, createdAt: number): SlotRow {
  const row: SlotRow = {
    id: randomBytes(4).toString('hex'), kind: 'member', label: name, kdf: 'none', kdf_params: canonicalParams({ name: 'none', params: {} }),
    salt: randomBytes(SALT_BYTES), nonce: Buffer.alloc(0), wrapped_key: Buffer.alloc(0), created_at: createdAt, last_used_at: null,
    public_key: publicKey, ephemeral_key: null, key_mac: null, wrap_format: FORMAT_VERSION, pending: null,
  };
  return appendLink(vaultId, row, dataKey, dataKey);
}

/**
 * Finds the slot of `kind` that `secret` opens. Parameters are checked and the total KDF
 * work is capped before any derivation; a slot whose public key the derived KEK matches is
 * the one, and must then open (integrity otherwise). No slot matches: null (wrong secret).
 */
export async function unlockSlots(vaultId: string, rows: SlotRow[], secret: Buffer, legacyAllowed: boolean): Promise<OpenedSlot | null> {
  if (rows.length > MAX_SLOTS) throw integrity(`the vault has ${rows.length} key slots, more than the ${MAX_SLOTS} allowed`);
  const specs = rows.map(slotKdf);
  const work = specs.reduce((sum, s) => sum + kdfWork(s), 0);
  if (work > UNLOCK_WORK_BUDGET) {
    throw integrity(`unlocking would take ${work.toFixed(1)} times the work of one default key derivation (${rows.length} slots), more than the ${UNLOCK_WORK_BUDGET} allowed`);
  }
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    const kek = await deriveKek(specs[i]!, secret, row.salt);
    // A sealed wrap that opens under this KEK is this slot's: its associated data binds the
    // slot's public key, so the X25519 check below (a private key from the KEK, ~1.5 ms on a
    // start) would say the same. Only a wrap that does not open needs it, to tell a wrong
    // secret (skip the slot) from tampering (openSlot throws).
    const sealed = row.wrap_format === FORMAT_VERSION && !isUnopenedMember(row) ? openWithKek(kek, row.nonce, row.wrapped_key, sealAad(vaultId, row)) : null;
    if (sealed === null && !kekMatches(kek, row.public_key!)) {
      wipe(kek);
      continue;
    }
    try {
      return openSlot(vaultId, row, kek, legacyAllowed, sealed);
    } catch (e) {
      wipe(kek, sealed);
      throw e;
    }
  }
  return null;
}
