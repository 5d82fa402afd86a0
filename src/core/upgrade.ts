import { randomBytes } from 'node:crypto';
import { open, seal, wipe } from '../crypto/aead.js';
import { sealSlot, slotMac, type OpenedSlot } from '../keyring/keyring.js';
import type { Store } from '../store/store.js';
import { legacyValueAad, secretMac, valueAad } from './integrity.js';
import { tampered } from './vault.js';

/**
 * The rows of a release-0.1 vault (format 1) rewritten for format 2, inside the upgrade's
 * write transaction (Vault.upgrade holds the keys, the transaction and its audit entry): every
 * version re-encrypted under the new associated data (uid, expiry, origin, time), every secret
 * given a uid and a MAC, the unlocking slot sealed with its KEK, every other slot MACed (it
 * stays `legacy` until its own unlock). A version that does not open under the 0.1 associated
 * data is tampering: integrity, and the transaction rolls back.
 */
export function upgradeRows(store: Store, vaultId: string, opened: OpenedSlot): { secrets: number; versions: number } {
  const dataKey = opened.dataKey;
  const all = store.allSecrets();
  let versions = 0;
  for (const s of all) {
    const uid = randomBytes(16);
    for (const v of store.versionsOf(s.id)) {
      const plain = open(dataKey, v.nonce, v.ciphertext, legacyValueAad(vaultId, s, v.version));
      if (!plain) throw tampered(s, v.version);
      const sealed = seal(dataKey, plain, valueAad(vaultId, uid, v));
      wipe(plain);
      store.setCiphertext(s.id, v.version, sealed.nonce, sealed.box);
      versions++;
    }
    const row = { ...s, uid };
    store.updateSecret({ ...row, mac: secretMac(vaultId, dataKey, row) });
  }
  for (const row of store.allSlots()) {
    store.replaceSlot(row.id === opened.row.id ? sealSlot(vaultId, row, opened.kek, dataKey) : { ...row, key_mac: slotMac(vaultId, dataKey, row) });
  }
  return { secrets: all.length, versions };
}
