import { randomBytes } from 'node:crypto';
import { open, seal, wipe } from '../crypto/aead.js';
import { VaultError } from '../core/errors.js';
import { forgetSecretMacKey, valueAad } from '../core/integrity.js';
import { formatRef } from '../core/names.js';
import type { Vault } from '../core/vault.js';
import { appendLink, integrity, rewrapLegacy, sealSlot, slotMacOk } from './keyring.js';
import type { AuditKey } from '../audit/log.js';

export interface MasterRotation {
  versions: number;
  slots: number;
  /** slots that get the new key at their next unlock (their secret was not at hand) */
  pending: number;
  /** false when another connection kept the WAL from being emptied (old pages may linger there until it closes) */
  checkpointed: boolean;
}

export interface RotationOptions {
  /**
   * Runs inside the rotation's transaction after every slot MAC verified under the old key and
   * before anything is re-encrypted (member rm: delete the member's slot, mark rotation due,
   * write its audit entry). The slots are read again after it: a slot it deleted gets no link.
   */
  before?: () => void;
  /** more detail for the rotate-master audit entry (member rm names the member) */
  detail?: Record<string, unknown>;
}

/** Versions re-encrypted per read. */
const PAGE = 1000;

/** Called while re-encrypting, synchronously (the transaction holds the event loop). */
export type RotationProgress = (done: number, total: number) => void;

/**
 * `vault rotate --master`: a new random data key and a new audit key. In ONE write
 * transaction: every version of every secret (removed ones too) is decrypted with the old key
 * and sealed under the new one with a fresh nonce; every secret is re-MACed; the slot this
 * process unlocked with is re-sealed under its KEK; every other slot gets a pending link (the
 * new key wrapped to its public key, MACed under the old key: src/crypto/slotwrap.ts), which
 * its next unlock follows and re-seals; the rotate-master entry is the last one under the old
 * audit key, and the next one starts the new key's chain from it. SQLite's atomic commit means
 * a crash at any moment leaves the old vault or the new one, never a mix.
 *
 * Before anything is written, each slot's MAC is checked under the old data key: a slot
 * planted by a writer of the file would otherwise receive the new data key.
 *
 * Afterwards secure_delete has zeroed replaced cells, and a TRUNCATE checkpoint empties the
 * WAL, so no old ciphertext or old wrap stays in the vault's files.
 */
export function rotateMasterKey(vault: Vault, progress?: RotationProgress, options: RotationOptions = {}): MasterRotation {
  const oldKey = vault.requireKey();
  const newKey = randomBytes(32);
  const store = vault.store;
  const used = vault.unlockedSlot();
  let next: AuditKey | undefined;
  let result: Omit<MasterRotation, 'checkpointed'>;
  try {
    result = vault.transact(() => {
      let rows = vault.slotRows();
      for (const row of rows) {
        if (!slotMacOk(vault.id, oldKey, row)) {
          throw new VaultError('integrity', `key slot ${row.id} failed its integrity check; nothing was rotated`, {
            hint: 'the vault file may have been tampered with; restore it from a backup',
          });
        }
      }
      if (options.before) {
        options.before();
        rows = vault.slotRows();
      }
      const total = store.counts().versions;
      const owners = new Map(store.allSecrets().map((s) => [s.id, s]));
      let done = 0;
      // Page by page (one query per page, not per version: a round trip each on PostgreSQL),
      // so a large vault's ciphertexts are never all in memory at once.
      for (let page = store.versionPage(null, PAGE), last = page.at(-1); page.length > 0; page = last ? store.versionPage(last, PAGE) : [], last = page.at(-1)) {
        for (const row of page) {
          const owner = owners.get(row.secret_id)!;
          const aad = owner?.uid ? valueAad(vault.id, owner.uid, row) : null;
          const plain = aad ? open(oldKey, row.nonce, row.ciphertext, aad) : null;
          if (!plain) {
            throw new VaultError('integrity', `secret ${owner ? formatRef(owner) : `#${row.secret_id}`} version ${row.version} failed its integrity check; nothing was rotated`, {
              hint: 'the vault file may have been tampered with; restore it from a backup',
            });
          }
          try {
            const { nonce, box } = seal(newKey, plain, aad!);
            store.setCiphertext(row.secret_id, row.version, nonce, box);
          } finally {
            wipe(plain);
          }
          done++;
          progress?.(done, total);
        }
      }
      let pending = 0;
      for (const row of rows) {
        let fresh;
        if (used && row.id === used.id) fresh = sealSlot(vault.id, row, used.kek, newKey);
        else if (row.wrap_format === 1) fresh = rewrapLegacy(vault.id, row, newKey);
        else {
          fresh = appendLink(vault.id, row, oldKey, newKey);
          pending++;
        }
        vault.replaceSlotRow(fresh);
      }
      // The rekey entry: the last one MACed by the old audit key.
      vault.record({ op: 'rotate-master', outcome: 'ok', detail: { versions: done, slots: rows.length, pending, ...options.detail } });
      next = vault.rekey(newKey).nextAuditKey;
      return { versions: done, slots: rows.length, pending };
    });
  } catch (e) {
    forgetSecretMacKey(newKey);
    wipe(newKey);
    // The transaction rolled back; the failure still belongs in the audit log.
    if (e instanceof VaultError && e.code === 'integrity') {
      try {
        vault.transact(() => vault.record({ op: 'rotate-master', outcome: 'failed', detail: { reason: e.message, ...options.detail } }));
      } catch {
        // the original error is the one to report
      }
    }
    throw e;
  }
  vault.adoptKeys(newKey, next!);
  // The rotation has committed; a checkpoint that cannot finish now (another process is
  // reading) is reported, not thrown: the next checkpoint completes it.
  const checkpointed = store.scrub();
  return { ...result, checkpointed };
}

export { integrity };
