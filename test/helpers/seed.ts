import { Vault } from '../../src/core/vault.js';
import { PASSPHRASE } from './cli.js';

/**
 * Stores secrets in a vault file through the library (one unlock for all of them, instead of
 * one `vault put` each). `ns/NAME` keys go to that namespace, plain ones to `default`.
 */
export async function seed(path: string, secrets: Record<string, string | Buffer>): Promise<void> {
  const vault = Vault.open(path);
  try {
    await vault.unlockWithPassphrase(Buffer.from(PASSPHRASE));
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
export async function expire(path: string, ns: string, name: string): Promise<void> {
  const vault = Vault.open(path);
  try {
    await vault.unlockWithPassphrase(Buffer.from(PASSPHRASE));
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
