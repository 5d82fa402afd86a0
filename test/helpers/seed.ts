import { Vault } from '../../src/core/vault.js';
import { parseMasterKey } from '../../src/unlock/masterkey.js';
import { PASSPHRASE } from './cli.js';

/**
 * A vault to open in this process: its path, and its master key when it has one (freshVault,
 * cheapVault). With the key the unlock costs no KDF; by path alone it unlocks with PASSPHRASE,
 * which on a vault of freshVault would first re-wrap its cheap passphrase slot at today's
 * default cost (kdf-upgrade) and then pay that cost at every later unlock.
 */
export type SeedTarget = string | { path: string; masterKey: string };

/** Opens and unlocks `target` in this process; the caller closes it. */
export async function openVault(target: SeedTarget): Promise<Vault> {
  const vault = Vault.open(typeof target === 'string' ? target : target.path);
  try {
    if (typeof target === 'string') await vault.unlockWithPassphrase(Buffer.from(PASSPHRASE));
    else await vault.unlockWithMasterKey(parseMasterKey(target.masterKey, 'test'));
  } catch (e) {
    vault.close();
    throw e;
  }
  return vault;
}

/**
 * Stores secrets in a vault file through the library (one unlock for all of them, instead of
 * one `vault put` each). `ns/NAME` keys go to that namespace, plain ones to `default`.
 */
export async function seed(target: SeedTarget, secrets: Record<string, string | Buffer>): Promise<void> {
  const vault = await openVault(target);
  try {
    for (const [key, value] of Object.entries(secrets)) {
      const slash = key.indexOf('/');
      const ref = slash === -1 ? { ns: 'default', name: key } : { ns: key.slice(0, slash), name: key.slice(slash + 1) };
      vault.put(ref, Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8'), { force: true });
    }
  } finally {
    vault.close();
  }
}

/**
 * Makes a secret expired: a new version of its current value whose expiry has passed (epoch
 * ms 1), stored through the library. The expiry is bound into the ciphertext, so editing it in
 * the file would be tampering, not expiry; and the clock cannot be moved from outside.
 */
export async function expire(target: SeedTarget, ns: string, name: string): Promise<void> {
  const vault = await openVault(target);
  try {
    const current = vault.get({ ns, name });
    try {
      vault.put({ ns, name }, current.value, { force: true, expiresAt: 1 });
    } finally {
      current.value.fill(0);
    }
  } finally {
    vault.close();
  }
}
