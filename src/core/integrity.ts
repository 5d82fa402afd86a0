import { encodeAad, encodeAadAfter, wipe } from '../crypto/aead.js';
import { createHash } from 'node:crypto';
import { mac, macAfter, macEqual, subkey, type Field } from '../crypto/mac.js';
import { FORMAT_VERSION } from '../keyring/keyring.js';
import type { GrantRow } from '../store/grants.js';
import type { SecretRow } from '../store/secrets.js';
import type { SecretRef } from './names.js';

/**
 * What binds each stored thing to a key holder (docs/security.md, "What binds each field"):
 *  - a version's ciphertext: AES-GCM whose associated data is the vault id, the secret's
 *    random uid, the version number, its expiry, origin and time;
 *  - a secret's row: a MAC under the data key over every field (uid, namespace, name,
 *    current and highest version, description, times, removal, the current expiry);
 *  - the whole vault: the state record, a counter and a MAC under the data key over a digest
 *    of every slot's and every secret's MAC. A deleted, added or rolled-back row changes the
 *    digest; the counter, also kept in the rollback anchor outside the file, orders states.
 */

/**
 * An optional field, pushed onto a field list as two: 0 and '' when absent, 1 and the value when
 * present (absent and empty never encode alike). Pushed, not spread from an array: the bulk reads
 * encode two lists per secret.
 */
function pushOpt(fields: Field[], v: string | number | null): void {
  if (v === null) fields.push(0, '');
  else fields.push(1, v);
}

const VALUE_LABEL = 'vault/secret/v2';
const SECRET_MAC_LABEL = 'vault/secret-mac/v1';

/**
 * The encoded label and vault id that begin every value's associated data and every secret
 * MAC's input, kept for the last vault id asked for: a bulk read encodes them once, not once
 * per secret. They hold nothing secret.
 */
let prefixes: { vaultId: string; value: Buffer; secretMac: Buffer } | null = null;

function prefixesOf(vaultId: string): { value: Buffer; secretMac: Buffer } {
  if (prefixes === null || prefixes.vaultId !== vaultId) {
    prefixes = { vaultId, value: encodeAad(VALUE_LABEL, [vaultId, FORMAT_VERSION]), secretMac: encodeAad(SECRET_MAC_LABEL, [vaultId]) };
  }
  return prefixes;
}

/** Associated data of a version's ciphertext. */
export function valueAad(vaultId: string, uid: Buffer, v: { version: number; expires_at: number | null; origin: string; created_at: number }): Buffer {
  // encodeAad('vault/secret/v2', [vaultId, FORMAT_VERSION, uid, v.version, expires_at?, v.origin, v.created_at])
  const fields: Field[] = [uid, v.version];
  pushOpt(fields, v.expires_at);
  fields.push(v.origin, v.created_at);
  return encodeAadAfter(prefixesOf(vaultId).value, fields);
}

/** Release 0.1's associated data (read once, by the upgrade). */
export function legacyValueAad(vaultId: string, ref: SecretRef, version: number): Buffer {
  return encodeAad('vault/secret/v1', [vaultId, 1, ref.ns, ref.name, version]);
}

/**
 * The secret-MAC subkey of the data key in use, derived once (an HKDF per row cost more than
 * the MAC itself at 10,000 secrets). Held by reference to the data key Buffer it came from;
 * forgetSecretMacKey (Vault.close) wipes it with the data key.
 */
let macKeyCache: { dataKey: Buffer; key: Buffer } | null = null;

function secretMacKey(dataKey: Buffer): Buffer {
  if (macKeyCache === null || macKeyCache.dataKey !== dataKey) {
    forgetSecretMacKey();
    macKeyCache = { dataKey, key: subkey(dataKey, 'vault/secret-mac/v1') };
  }
  return macKeyCache.key;
}

/** Wipes the cached subkey of `dataKey` (of any key when omitted). */
export function forgetSecretMacKey(dataKey?: Buffer | null): void {
  if (macKeyCache !== null && (dataKey === undefined || dataKey === null || macKeyCache.dataKey === dataKey)) {
    wipe(macKeyCache.key);
    macKeyCache = null;
  }
}

export function secretMac(vaultId: string, dataKey: Buffer, row: Omit<SecretRow, 'id' | 'mac'>): Buffer {
  // mac(key, 'vault/secret-mac/v1', [vaultId, uid, ns, name, current, highest, description?,
  // created, updated, removed?, expires?, 'not-secret'?, 'rotation-due'?])
  const fields: Field[] = [row.uid ?? Buffer.alloc(0), row.ns, row.name, row.current_version, row.highest_version];
  pushOpt(fields, row.description);
  fields.push(row.created_at, row.updated_at);
  pushOpt(fields, row.removed_at);
  pushOpt(fields, row.expires_at);
  // Only a set flag adds a field: rows written before migration 5 keep their MAC.
  if (row.not_secret) fields.push('not-secret');
  // Likewise rotation_due (migration 6): the server cannot clear the mark unnoticed.
  if (row.rotation_due) fields.push('rotation-due');
  return macAfter(secretMacKey(dataKey), prefixesOf(vaultId).secretMac, fields);
}

export function secretMacOk(vaultId: string, dataKey: Buffer, row: SecretRow): boolean {
  return row.uid !== null && macEqual(row.mac, secretMac(vaultId, dataKey, row));
}

/**
 * A grant's row: a MAC under the data key over every field, its use count, last use and
 * rate window included, so that a file writer can neither widen a grant nor give it back
 * its uses.
 */
export function grantMac(vaultId: string, dataKey: Buffer, row: Omit<GrantRow, 'id' | 'mac'>): Buffer {
  const key = subkey(dataKey, 'vault/grant-mac/v1');
  try {
    const fields: Field[] = [vaultId, row.uid, row.name, row.secrets];
    pushOpt(fields, row.ns);
    pushOpt(fields, row.prefix);
    fields.push(row.hosts);
    pushOpt(fields, row.commands);
    pushOpt(fields, row.expires_at);
    pushOpt(fields, row.max_uses);
    pushOpt(fields, row.rate);
    fields.push(row.reveal, row.created_at, row.uses);
    pushOpt(fields, row.last_used_at);
    fields.push(row.recent);
    return mac(key, 'vault/grant-mac/v1', fields);
  } finally {
    wipe(key);
  }
}

export function grantMacOk(vaultId: string, dataKey: Buffer, row: GrantRow): boolean {
  return Buffer.isBuffer(row.mac) && Buffer.isBuffer(row.uid) && macEqual(row.mac, grantMac(vaultId, dataKey, row));
}

/**
 * The digest the state record covers: every slot's, every secret's and every grant's MAC, by
 * id. (A vault with no grants has the digest it had before grants existed.) The secrets come
 * as their MACs, or as `{ encoded }`: their rows already encoded as this function encodes each
 * one (a store's secretDigestRows), hashed as they are.
 */
export function stateDigest(
  slots: Iterable<{ id: string; key_mac: Buffer | null }>,
  secrets: Iterable<{ id: number; mac: Buffer | null }> | { encoded: Iterable<Buffer> },
  grants: Iterable<{ id: number; mac: Buffer | null }> = [],
): Buffer {
  const h = createHash('sha256');
  h.update(encodeAad('vault/state-digest/v1', []));
  for (const s of slots) h.update(encodeAad('row', ['slot', s.id, s.key_mac ?? Buffer.alloc(0)]));
  if ('encoded' in secrets) {
    for (const piece of secrets.encoded) h.update(piece);
  } else {
    for (const s of secrets) h.update(encodeAad('row', ['secret', s.id, s.mac ?? Buffer.alloc(0)]));
  }
  for (const g of grants) h.update(encodeAad('row', ['grant', g.id, Buffer.isBuffer(g.mac) ? g.mac : Buffer.alloc(0)]));
  return h.digest();
}

export function stateMac(vaultId: string, dataKey: Buffer, counter: number, stateDigestValue: Buffer): Buffer {
  const key = subkey(dataKey, 'vault/state/v1');
  try {
    return mac(key, 'vault/state/v1', [vaultId, counter, stateDigestValue]);
  } finally {
    wipe(key);
  }
}

/** `N:hex`: the stored state record. */
export function parseState(text: string | undefined): { counter: number; mac: Buffer } | null {
  const m = text === undefined ? null : /^([0-9]{1,15}):([0-9a-f]{64})$/.exec(text);
  return m ? { counter: Number(m[1]), mac: Buffer.from(m[2]!, 'hex') } : null;
}
