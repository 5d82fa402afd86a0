import { VaultError } from '../core/errors.js';
import type { SlotInfo, SlotKind, SlotRow, Vault } from '../core/vault.js';
import { wipe } from '../crypto/aead.js';
import { defaultKdf } from '../crypto/kdf.js';
import { buildSlot } from '../keyring/keyring.js';
import { generateMasterKey } from './masterkey.js';

/**
 * Adding, replacing and removing key slots. Every change needs an unlocked vault (the new
 * slot wraps the data key; the audit entry needs the audit key) and writes its audit entry in
 * the same transaction. Slot building (the KDF) runs before the transaction: better-sqlite3
 * transactions are synchronous, and the write lock should not wait on scrypt.
 */

const LABEL_RE = /^[^\u0000-\u001f\u007f]{1,64}$/u;

/** A slot label: 1-64 characters, no control characters, not blank. */
export function checkLabel(label: string): string {
  if (!LABEL_RE.test(label) || label.trim() === '') {
    throw new VaultError('usage', `invalid label ${JSON.stringify(label)}`, { hint: 'a label is 1-64 printable characters, e.g. --label github-actions' });
  }
  return label;
}

function rows(vault: Vault, kind?: SlotKind): SlotRow[] {
  return vault.slotRows(kind);
}

function info(vault: Vault, id: string): SlotInfo {
  const slot = vault.slots().find((s) => s.id === id);
  if (!slot) throw new VaultError('not-found', `no key slot ${id}`);
  return slot;
}

function duplicateLabel(label: string): VaultError {
  return new VaultError('exists', `a master key labelled ${JSON.stringify(label)} already exists`, {
    hint: 'choose another label, or revoke the old key first with vault key rm ID',
  });
}

/**
 * Adds a master-key slot and returns the new key's text (`vault1-…`), which exists nowhere
 * else: the caller shows it once. KEK = HKDF-SHA256 of the raw 32 bytes.
 */
export async function addMasterKey(vault: Vault, label: string): Promise<{ slot: SlotInfo; key: string }> {
  checkLabel(label);
  const dataKey = vault.requireKey();
  if (rows(vault, 'master-key').some((r) => r.label === label)) throw duplicateLabel(label);
  const { text, raw } = generateMasterKey();
  let slot: SlotRow;
  try {
    const built = await buildSlot(vault.id, 'master-key', label, { name: 'hkdf-sha256', params: {} }, raw, dataKey, vault.time());
    wipe(built.kek);
    slot = built.row;
  } finally {
    raw.fill(0);
  }
  vault.audited({ op: 'key-add', detail: { kind: 'master-key', label } }, (entry) => {
    // again inside the transaction: another process may have added it meanwhile
    if (rows(vault, 'master-key').some((r) => r.label === label)) throw duplicateLabel(label);
    vault.saveSlot(slot, false);
    entry.detail = { slot: slot.id, kind: 'master-key', label };
  });
  return { slot: info(vault, slot.id), key: text };
}

/** A slot that unlocks the vault anywhere: the keychain slot only works on this login. */
function portable(kind: SlotKind): boolean {
  return kind === 'passphrase' || kind === 'master-key' || kind === 'member';
}

/**
 * Removes (revokes) a passphrase or master-key slot. Refused when no passphrase or master-key
 * slot would remain: a vault left with only a keychain slot, or none, is one lost login away
 * from never opening again. The keychain slot goes through `removeKeychainSlot` instead,
 * which the CLI pairs with deleting the keychain item.
 */
export function removeSlot(vault: Vault, id: string): SlotInfo {
  return vault.audited({ op: 'key-rm', detail: { slot: id } }, (entry) => {
    const all = rows(vault);
    const target = all.find((r) => r.id === id);
    if (!target) throw new VaultError('not-found', `no key slot ${id}`, { hint: 'vault key list shows the slot ids' });
    entry.detail = { slot: id, kind: target.kind };
    if (target.kind === 'keychain') throw new VaultError('usage', `key slot ${id} is the keychain slot`, { hint: 'remove it with vault keychain disable' });
    if (target.kind === 'member') {
      throw new VaultError('usage', `key slot ${id} is the member ${target.label ?? ''}`, { hint: `remove it with vault member rm ${target.label ?? 'NAME'} (which also rotates the data key)` });
    }
    if (!all.some((r) => r.id !== id && portable(r.kind))) {
      throw new VaultError('usage', `refusing to remove key slot ${id}: it is the last passphrase or master-key slot, and without it the vault could never be unlocked again`, {
        hint: 'add another way in first: vault key add --label L, or vault passwd if no passphrase is set',
      });
    }
    const removed = info(vault, id);
    vault.removeSlotRow(id);
    entry.detail = { slot: id, kind: target.kind, label: target.label };
    return removed;
  });
}

/**
 * `vault passwd`: re-wraps the data key for a new passphrase, with today's default KDF
 * parameters of the slot's family (scrypt or PBKDF2) and a new salt. Re-wrap only: no value
 * is re-encrypted. Replaces the oldest passphrase slot in place (same id), or adds one when
 * the vault has none (a vault that only had master keys).
 */
export async function setPassphrase(vault: Vault, passphrase: Buffer): Promise<{ slot: SlotInfo; added: boolean }> {
  if (passphrase.length === 0) throw new VaultError('usage', 'the new passphrase is empty');
  const dataKey = vault.requireKey();
  const existing = rows(vault, 'passphrase')[0];
  const family = existing && existing.kdf === 'pbkdf2-sha256' ? 'pbkdf2' : 'scrypt';
  const built = await buildSlot(vault.id, 'passphrase', existing?.label ?? null, defaultKdf(family, vault.kdfPolicy), passphrase, dataKey, existing?.created_at ?? vault.time(), existing?.id);
  wipe(built.kek);
  const fresh = built.row;
  vault.audited({ op: 'passwd', detail: { slot: fresh.id, kdf: fresh.kdf, params: fresh.kdf_params } }, () => vault.saveSlot(fresh, existing !== undefined));
  return { slot: info(vault, fresh.id), added: !existing };
}

/** The vault's keychain slot, if it has one. */
export function keychainSlot(vault: Vault): SlotInfo | undefined {
  return vault.slots().find((s) => s.kind === 'keychain');
}

/**
 * Adds the keychain slot for `kek`, a random 256-bit key the caller has already stored in the
 * OS keychain (KDF `none`: the keychain holds the key itself). One keychain slot per vault:
 * `replace` swaps out an existing one (whose keychain entry was lost) in the same transaction.
 */
export async function addKeychainSlot(vault: Vault, kek: Buffer, options: { replace?: boolean } = {}): Promise<SlotInfo> {
  const dataKey = vault.requireKey();
  const built = await buildSlot(vault.id, 'keychain', null, { name: 'none', params: {} }, kek, dataKey, vault.time());
  wipe(built.kek);
  const slot = built.row;
  vault.audited({ op: 'keychain-enable' }, (entry) => {
    const old = keychainSlot(vault);
    if (old && !options.replace) throw new VaultError('exists', 'the vault already has a keychain slot', { hint: 'vault keychain status shows it' });
    if (old) vault.removeSlotRow(old.id);
    vault.saveSlot(slot, false);
    entry.detail = { slot: slot.id, ...(old ? { replaced: old.id } : {}) };
  });
  return info(vault, slot.id);
}

/** Removes the keychain slot (the caller deletes the keychain item). */
export function removeKeychainSlot(vault: Vault): SlotInfo {
  return vault.audited({ op: 'keychain-disable' }, (entry) => {
    const slot = keychainSlot(vault);
    if (!slot) throw new VaultError('not-found', 'the vault has no keychain slot', { hint: 'vault keychain enable adds one' });
    vault.removeSlotRow(slot.id);
    entry.detail = { slot: slot.id };
    return slot;
  });
}
