import { randomBytes } from 'node:crypto';
import { isVaultError, VaultError } from '../core/errors.js';
import type { SlotInfo, Vault } from '../core/vault.js';
import { wipe } from '../crypto/aead.js';
import { KeychainUnavailable, type KeychainProbe, type KeychainStore } from './keychain.js';
import { addKeychainSlot, keychainSlot, removeKeychainSlot } from './slots.js';

/**
 * The keychain slot: a random 256-bit KEK lives in the OS keychain (service `vault`, account =
 * the vault id) and the slot's KDF is `none`. These functions join the keychain (src/unlock/
 * keychain.ts) and the slot table; nothing here prints. A keychain that cannot be reached, or
 * an entry that is gone, is a reason to move on, never a crash: callers get it as a value.
 */

export type KeychainAttempt = { ok: true } | { ok: false; reason: KeychainFailure };

export type KeychainFailure =
  | { kind: 'unavailable'; reason: string }
  | { kind: 'missing' }
  | { kind: 'mismatch' };

/** The one-line warning for a keychain step that could not unlock (SPEC §4: said once, then go on). */
export function keychainWarning(failure: KeychainFailure): string {
  switch (failure.kind) {
    case 'unavailable':
      return `keychain unavailable: ${failure.reason}`;
    case 'missing':
      return 'the OS keychain has no key for this vault (was it deleted?); vault keychain enable stores a new one';
    case 'mismatch':
      return 'the key in the OS keychain does not open this vault; vault keychain enable stores a new one';
  }
}

async function readKek(vault: Vault, store: KeychainStore): Promise<{ kek: Buffer } | { failure: KeychainFailure }> {
  try {
    const kek = await store.read(vault.id);
    return kek ? { kek } : { failure: { kind: 'missing' } };
  } catch (e) {
    if (e instanceof KeychainUnavailable) return { failure: { kind: 'unavailable', reason: e.reason } };
    throw e;
  }
}

/**
 * Unlock step 3 of SPEC §4. Resolves ok when the keychain's key opened the keychain slot;
 * otherwise why not, and the vault is still locked. A slot that fails its integrity checks
 * is not a keychain problem and throws.
 */
export async function unlockWithKeychain(vault: Vault, store: KeychainStore): Promise<KeychainAttempt> {
  const slot = keychainSlot(vault);
  if (!slot) return { ok: false, reason: { kind: 'missing' } };
  const got = await readKek(vault, store);
  if ('failure' in got) return { ok: false, reason: got.failure };
  try {
    if (got.kek.length !== 32) return { ok: false, reason: { kind: 'mismatch' } };
    await vault.unlockWithKeychainKek(slot.id, got.kek);
    return { ok: true };
  } catch (e) {
    if (isVaultError(e, 'auth-failed')) return { ok: false, reason: { kind: 'mismatch' } };
    throw e;
  } finally {
    wipe(got.kek);
  }
}

/**
 * `vault keychain enable` on an unlocked vault. Stores a new random KEK in the keychain, then
 * adds the slot. If the vault already has a keychain slot whose key is still in the keychain
 * and opens it, nothing changes ('already'); if that key is missing or wrong, the slot is
 * replaced ('replaced'). The keychain write comes first: if it fails, the vault is untouched.
 */
export async function enableKeychain(vault: Vault, store: KeychainStore): Promise<{ slot: SlotInfo; state: 'added' | 'replaced' | 'already' }> {
  vault.requireKey();
  const existing = keychainSlot(vault);
  if (existing) {
    const got = await readKek(vault, store);
    if ('failure' in got && got.failure.kind === 'unavailable') throw unusable(got.failure.reason);
    if ('kek' in got) {
      try {
        if (await vault.keychainKekOpens(existing.id, got.kek)) return { slot: existing, state: 'already' };
      } finally {
        wipe(got.kek);
      }
    }
  }
  const kek = randomBytes(32);
  try {
    try {
      await store.write(vault.id, kek);
    } catch (e) {
      if (e instanceof KeychainUnavailable) throw unusable(e.reason);
      throw e;
    }
    try {
      const slot = await addKeychainSlot(vault, kek, { replace: existing !== undefined });
      return { slot, state: existing ? 'replaced' : 'added' };
    } catch (e) {
      // The slot was not added: a key in the keychain that opens nothing is only clutter.
      await store.remove(vault.id).catch(() => false);
      throw e;
    }
  } finally {
    wipe(kek);
  }
}

function unusable(reason: string): VaultError {
  return new VaultError('error', `cannot use the OS keychain: ${reason}`, {
    hint: 'see "Keychain set-up on Linux" in the README (a Secret Service such as GNOME Keyring on a D-Bus session)',
  });
}

/**
 * `vault keychain disable` on an unlocked vault: removes the slot (not-found when there is
 * none), then the keychain entry. The entry going wrong is reported, not thrown: the slot is
 * gone, so the key opens nothing in this file any more (only in old copies of it).
 */
export async function disableKeychain(vault: Vault, store: KeychainStore): Promise<{ slot: SlotInfo; entry: 'removed' | 'absent' | { unavailable: string } }> {
  const slot = removeKeychainSlot(vault);
  try {
    return { slot, entry: (await store.remove(vault.id)) ? 'removed' : 'absent' };
  } catch (e) {
    if (e instanceof KeychainUnavailable) return { slot, entry: { unavailable: e.reason } };
    throw e;
  }
}

export interface KeychainStatus {
  slot: SlotInfo | null;
  keychain: KeychainProbe;
  /** null when there is no slot or no keychain to ask */
  key: 'ok' | 'missing' | 'mismatch' | null;
}

/**
 * `vault keychain status`, locked: is there a slot, does the keychain answer, and does its
 * key open the slot (checked without unlocking `vault`).
 */
export async function keychainStatus(vault: Vault, store: KeychainStore & { probe(): Promise<KeychainProbe> }): Promise<KeychainStatus> {
  const slot = keychainSlot(vault) ?? null;
  let keychain = await store.probe();
  let key: KeychainStatus['key'] = null;
  if (slot && keychain.available) {
    const got = await readKek(vault, store);
    if ('failure' in got) {
      if (got.failure.kind === 'unavailable') keychain = { available: false, reason: got.failure.reason };
      else key = 'missing';
    } else {
      try {
        key = (await vault.keychainKekOpens(slot.id, got.kek)) ? 'ok' : 'mismatch';
      } finally {
        wipe(got.kek);
      }
    }
  }
  return { slot, keychain, key };
}
