import { randomBytes } from 'node:crypto';
import { open, seal, wipe } from '../crypto/aead.js';
import { macEqual } from '../crypto/slotwrap.js';
import { VaultError } from './errors.js';
import { formatRef } from './names.js';
import { rewrapSlot, slotKeyMac, valueAad, type SlotRow, type Vault } from './vault.js';

export interface MasterRotation {
  versions: number;
  slots: number;
  /** false when another connection kept the WAL from being emptied (old pages may linger there until it closes) */
  checkpointed: boolean;
}

/** Called while re-encrypting, synchronously (the transaction holds the event loop). */
export type RotationProgress = (done: number, total: number) => void;

/**
 * `vault rotate --master`: a new random data key. In ONE write transaction: every version of
 * every secret (removed ones too) is decrypted with the old key and sealed under the new one
 * with a fresh nonce; the audit key is re-sealed (the key itself is kept, so the audit chain
 * verifies across the rotation); and every key slot gets the new data key wrapped to its
 * public key (src/crypto/slotwrap.ts), which needs no passphrase or master key. SQLite's
 * atomic commit means a crash at any moment leaves the old vault or the new one, never a mix.
 *
 * Before anything is written, each slot's public key is checked against its MAC under the
 * old data key: a swapped-in public key would otherwise receive the new data key.
 *
 * Afterwards secure_delete (on for every connection) has zeroed replaced cells, and a
 * TRUNCATE checkpoint moves the new pages into the main file and empties the WAL, so no old
 * ciphertext or old wrapped key stays in the vault's files.
 */
export function rotateMasterKey(vault: Vault, progress?: RotationProgress): MasterRotation {
  const oldKey = vault.requireKey();
  const newKey = randomBytes(32);
  const db = vault.database;
  let result: Omit<MasterRotation, 'checkpointed'>;
  try {
    result = vault.transact(() => {
      const slots = db.prepare('SELECT * FROM slots ORDER BY created_at, id').all() as SlotRow[];
      for (const slot of slots) {
        if (!slot.public_key || !macEqual(slot.key_mac, slotKeyMac(vault.id, oldKey, { ...slot, public_key: slot.public_key }))) {
          throw new VaultError('integrity', `key slot ${slot.id} failed its integrity check; nothing was rotated`, {
            hint: 'the vault file may have been tampered with; remove the slot with vault key rm, or restore the file from a backup',
          });
        }
      }
      // Keys first, values fetched one at a time: a vault may hold thousands of 1 MiB values.
      const keys = db
        .prepare('SELECT v.secret_id, v.version, s.ns, s.name FROM versions v JOIN secrets s ON s.id = v.secret_id ORDER BY v.secret_id, v.version')
        .all() as Array<{ secret_id: number; version: number; ns: string; name: string }>;
      const read = db.prepare('SELECT nonce, ciphertext FROM versions WHERE secret_id = ? AND version = ?');
      const write = db.prepare('UPDATE versions SET nonce = ?, ciphertext = ? WHERE secret_id = ? AND version = ?');
      let done = 0;
      for (const k of keys) {
        const row = read.get(k.secret_id, k.version) as { nonce: Buffer; ciphertext: Buffer };
        const aad = valueAad(vault.id, k, k.version);
        const plain = open(oldKey, row.nonce, row.ciphertext, aad);
        if (!plain) {
          throw new VaultError('integrity', `secret ${formatRef(k)} version ${k.version} failed its integrity check; nothing was rotated`, {
            hint: 'the vault file may have been tampered with; restore it from a backup',
          });
        }
        try {
          const { nonce, box } = seal(newKey, plain, aad);
          write.run(nonce, box, k.secret_id, k.version);
        } finally {
          wipe(plain);
        }
        done++;
        progress?.(done, keys.length);
      }
      db.prepare(`UPDATE meta SET value = ? WHERE key = 'audit_key'`).run(vault.sealedAuditKeyFor(newKey));
      const update = db.prepare('UPDATE slots SET ephemeral_key = @ephemeral_key, nonce = @nonce, wrapped_key = @wrapped_key, key_mac = @key_mac WHERE id = @id');
      for (const slot of slots) update.run({ id: slot.id, ...rewrapSlot(vault.id, { ...slot, public_key: slot.public_key! }, newKey) });
      vault.record({ op: 'rotate-master', outcome: 'ok', detail: { versions: keys.length, slots: slots.length } });
      return { versions: keys.length, slots: slots.length };
    });
  } catch (e) {
    wipe(newKey);
    // The transaction rolled back; the failure still belongs in the audit log.
    if (e instanceof VaultError && e.code === 'integrity') {
      try {
        vault.transact(() => vault.record({ op: 'rotate-master', outcome: 'failed', detail: { reason: e.message } }));
      } catch {
        // the original error is the one to report
      }
    }
    throw e;
  }
  vault.adoptDataKey(newKey);
  // The rotation has committed; a checkpoint that cannot finish now (another process is
  // reading) is reported, not thrown: the next checkpoint completes it.
  let checkpointed = false;
  try {
    const [cp] = db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number; log: number; checkpointed: number }>;
    checkpointed = cp !== undefined && cp.busy === 0 && cp.log === cp.checkpointed;
  } catch {
    checkpointed = false;
  }
  return { ...result, checkpointed };
}
