import { encodeAad, open, seal, wipe } from '../crypto/aead.js';
import type { AuditKey } from '../audit/log.js';
import type { Store } from '../store/store.js';

/**
 * The vault's own keys, kept in `meta` sealed under the data key (docs/security.md, "Key
 * hierarchy"): the audit keys (each with the first seq it MACs; rotate --master starts a new
 * one) and the rollback anchor's key. That they open under a data key is what tells an unlock
 * that the key a slot gave is this vault's.
 */

const AUDIT_KEYS_AAD = 'vault/audit-keys/v1';
const ANCHOR_KEY_AAD = 'vault/anchor-key/v1';
const LEGACY_AUDIT_KEY_AAD = 'vault/audit-key/v1';

export function sealText(key: Buffer, plain: Buffer, aad: Buffer): string {
  const { nonce, box } = seal(key, plain, aad);
  return Buffer.concat([nonce, box]).toString('base64');
}

export function openText(key: Buffer, text: string, aad: Buffer): Buffer | null {
  const bytes = Buffer.from(text, 'base64');
  return open(key, bytes.subarray(0, 12), bytes.subarray(12), aad);
}

/** Inside a write transaction: both records sealed under `dataKey`. */
export function writeSealedKeys(store: Store, vaultId: string, dataKey: Buffer, auditKeys: ReadonlyArray<AuditKey>, anchorKey: Buffer): void {
  const list = Buffer.concat(
    auditKeys.flatMap((k) => {
      const from = Buffer.alloc(8);
      from.writeBigUInt64BE(BigInt(k.fromSeq));
      return [from, k.key];
    }),
  );
  store.setMeta('audit_keys', sealText(dataKey, list, encodeAad(AUDIT_KEYS_AAD, [vaultId])));
  wipe(list);
  store.setMeta('anchor_key', sealText(dataKey, anchorKey, encodeAad(ANCHOR_KEY_AAD, [vaultId])));
}

/** The audit keys, oldest first; null when they do not open under `dataKey` or are malformed. */
export function openAuditKeys(store: Store, vaultId: string, dataKey: Buffer): AuditKey[] | null {
  const text = store.getMeta('audit_keys');
  const bytes = text === undefined ? null : openText(dataKey, text, encodeAad(AUDIT_KEYS_AAD, [vaultId]));
  if (!bytes || bytes.length === 0 || bytes.length % 40 !== 0) return null;
  const keys: AuditKey[] = [];
  for (let at = 0; at < bytes.length; at += 40) {
    keys.push({ fromSeq: Number(bytes.readBigUInt64BE(at)), key: Buffer.from(bytes.subarray(at + 8, at + 40)) });
  }
  wipe(bytes);
  return keys;
}

export function openAnchorKey(store: Store, vaultId: string, dataKey: Buffer): Buffer | null {
  const text = store.getMeta('anchor_key');
  return text === undefined ? null : openText(dataKey, text, encodeAad(ANCHOR_KEY_AAD, [vaultId]));
}

/** Release 0.1's single audit key (format 1), read once by the upgrade. */
export function openLegacyAuditKey(store: Store, vaultId: string, dataKey: Buffer): Buffer | null {
  const text = store.getMeta('audit_key');
  return text === undefined ? null : openText(dataKey, text, encodeAad(LEGACY_AUDIT_KEY_AAD, [vaultId, 1]));
}
