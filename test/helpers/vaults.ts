import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Vault } from '../../src/core/vault.js';
import { addMasterKey } from '../../src/unlock/slots.js';
import { PASSPHRASE, tempDir, TEST_KDF } from './cli.js';

/**
 * A new vault made through the library with the cheapest passphrase KDF the bounds allow
 * (scrypt N=2^14) and a master-key slot: spawned commands unlock with VAULT_MASTER_KEY (HKDF,
 * no KDF wait), so a test pays no scrypt per command. The shipped binary has no such switch:
 * `vault init` always takes today's defaults. Each call makes its own vault id, and its own
 * state directory for the rollback anchor (XDG_STATE_HOME), unless `anchors` names the
 * anchors directory to use instead (then env sets no XDG_STATE_HOME).
 */
export async function cheapVault(options: { anchors?: string; location?: string } = {}): Promise<{ dir: string; path: string; state: string; anchors: string; masterKey: string; env: Record<string, string>; cleanup: () => void }> {
  const { dir, cleanup } = tempDir();
  // `location`: another store's vault (a postgres:// URL) instead of a file in the temp directory
  const path = options.location ?? join(dir, 'vault', 'vault.db');
  const state = join(dir, 'state');
  mkdirSync(state, { mode: 0o700 });
  const anchors = options.anchors ?? join(state, 'vault', 'anchors');
  const vault = await Vault.create(path, { passphrase: Buffer.from(PASSPHRASE), kdf: { name: 'scrypt', params: { ...TEST_KDF.scrypt } }, anchorDir: anchors });
  let masterKey: string;
  try {
    masterKey = (await addMasterKey(vault, 'tests')).key;
  } finally {
    vault.close();
  }
  return { dir, path, state, anchors, masterKey, env: { VAULT_PATH: path, VAULT_MASTER_KEY: masterKey, ...(options.anchors === undefined ? { XDG_STATE_HOME: state } : {}) }, cleanup };
}

/** Opens the vault in this process with its master key (the anchor as the CLI would see it). */
export async function openWithKey(v: { path: string; anchors: string; masterKey: string }, options: { acceptRestore?: boolean } = {}): Promise<Vault> {
  const { parseMasterKey } = await import('../../src/unlock/masterkey.js');
  const vault = Vault.open(v.path, { anchorDir: v.anchors, ...options });
  try {
    await vault.unlockWithMasterKey(parseMasterKey(v.masterKey, 'test'));
  } catch (e) {
    vault.close();
    throw e;
  }
  return vault;
}
