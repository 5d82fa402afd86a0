import { readFileSync } from 'node:fs';
import { VaultError, errnoText } from '../core/errors.js';
import { authFailed, type Vault } from '../core/vault.js';
import { parseMasterKey } from './masterkey.js';

/**
 * The unlock order of SPEC §4, first present wins:
 *   1. VAULT_MASTER_KEY / VAULT_MASTER_KEY_FILE
 *   2. VAULT_PASSPHRASE / VAULT_PASSPHRASE_FILE
 *   3. an unlocked session (`vault unlock`) running for this vault
 *   4. the OS keychain slot, if the vault has one and the keychain answers
 *   5. an interactive prompt (the caller decides whether one is allowed)
 *   6. otherwise `locked` at once, with a hint naming the ways to unlock.
 * Environment values are passed in by the caller; nothing here reads process.env.
 */
export interface UnlockSources {
  masterKey?: string | undefined;
  masterKeyFile?: string | undefined;
  /** how a malformed masterKey is named in the error; default VAULT_MASTER_KEY */
  masterKeyName?: string | undefined;
  passphrase?: string | undefined;
  passphraseFile?: string | undefined;
  /** a passphrase the caller holds as bytes (the library API); used as VAULT_PASSPHRASE would be, and zeroed */
  passphraseBytes?: Buffer | undefined;
  /** tries a running session (src/agent); resolves false when there is none for this vault (or it is stale: already reported) */
  session?: ((vault: Vault) => Promise<boolean>) | undefined;
  /** tries the keychain slot; resolves false when the keychain cannot be used (already reported) */
  keychain?: ((vault: Vault) => Promise<boolean>) | undefined;
  /**
   * A team vault with member slots: opens it with this user's identity from their personal
   * vault (src/unlock/identity.ts). Resolves false when there is no identity to try (no
   * personal vault, no identity in it); throws auth-failed when the identity is not a member.
   */
  identity?: ((vault: Vault) => Promise<boolean>) | undefined;
  /** asks for the passphrase on a terminal; undefined when no prompt is allowed */
  prompt?: (() => Promise<Buffer>) | undefined;
  /** called around slow key derivation, e.g. to draw a spinner */
  slow?: (<T>(label: string, work: () => Promise<T>) => Promise<T>) | undefined;
}

export type UnlockMethod = 'master-key' | 'passphrase' | 'session' | 'keychain' | 'identity' | 'prompt';

export const LOCKED_HINT =
  'set VAULT_PASSPHRASE(_FILE) or VAULT_MASTER_KEY(_FILE), enable the OS keychain with vault keychain enable, or run in a terminal to be asked';

/** Reads a secret from a file named by an environment variable; one trailing newline is dropped. */
export function readSecretFile(path: string, variable: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new VaultError('usage', `cannot read ${variable} ${path}: ${errnoText(e)}`, { cause: e });
  }
  let end = bytes.length;
  if (end > 0 && bytes[end - 1] === 0x0a) end--;
  if (end > 0 && bytes[end - 1] === 0x0d) end--;
  return bytes.subarray(0, end);
}

/** The passphrase from the environment (variable first, then file), or undefined. */
export function passphraseFromEnv(passphrase: string | undefined, file: string | undefined, names = ['VAULT_PASSPHRASE', 'VAULT_PASSPHRASE_FILE']): Buffer | undefined {
  if (passphrase !== undefined) return Buffer.from(passphrase, 'utf8');
  if (file !== undefined) return readSecretFile(file, names[1]!);
  return undefined;
}

export async function unlockVault(vault: Vault, sources: UnlockSources): Promise<UnlockMethod> {
  const slow = sources.slow ?? ((_label, work) => work());
  // A team vault with members: VAULT_PASSPHRASE or a master key may be the member's own, for
  // their personal vault. Tried on the team vault's slots first, a miss then goes on to the
  // identity (not recorded as a failed unlock unless the identity does not open it either).
  const members = sources.identity !== undefined && vault.hasSlot('member');
  const viaIdentity = async (kind: 'master-key' | 'passphrase'): Promise<UnlockMethod> => {
    if (await sources.identity!(vault)) return 'identity';
    vault.recordFailedUnlock(kind);
    throw authFailed();
  };
  if (sources.masterKey !== undefined || sources.masterKeyFile !== undefined) {
    const raw =
      sources.masterKey !== undefined
        ? parseMasterKey(sources.masterKey, sources.masterKeyName ?? 'VAULT_MASTER_KEY')
        : parseMasterKey(readSecretFile(sources.masterKeyFile!, 'VAULT_MASTER_KEY_FILE').toString('utf8'), 'VAULT_MASTER_KEY_FILE');
    try {
      if (!vault.hasSlot('master-key')) {
        if (members) return await viaIdentity('master-key');
        // Every master-key slot revoked: still a failed unlock, and recorded as one.
        vault.recordFailedUnlock('master-key');
        throw authFailed();
      }
      if (members) {
        if (await vault.unlockWithMasterKey(raw, { quiet: true })) return 'master-key';
        return await viaIdentity('master-key');
      }
      await vault.unlockWithMasterKey(raw);
    } finally {
      raw.fill(0);
    }
    return 'master-key';
  }
  const passphrase = sources.passphraseBytes ?? passphraseFromEnv(sources.passphrase, sources.passphraseFile);
  if (passphrase !== undefined) {
    try {
      if (members) {
        const opened = vault.hasSlot('passphrase') && (await slow('unlocking', () => vault.unlockWithPassphrase(passphrase, { quiet: true })));
        if (opened) return 'passphrase';
        return await viaIdentity('passphrase');
      }
      await slow('unlocking', () => vault.unlockWithPassphrase(passphrase));
    } finally {
      passphrase.fill(0);
    }
    return 'passphrase';
  }
  if (sources.session && (await sources.session(vault))) return 'session';
  if (sources.keychain && vault.hasSlot('keychain') && (await sources.keychain(vault))) return 'keychain';
  if (members) {
    try {
      if (await sources.identity!(vault)) return 'identity';
    } catch (e) {
      // Not a member (or the personal vault would not open): the prompt, for a team passphrase, is still there.
      if (!(sources.prompt && e instanceof VaultError && e.code === 'auth-failed')) throw e;
    }
  }
  if (sources.prompt) {
    const typed = await sources.prompt();
    try {
      await slow('unlocking', () => vault.unlockWithPassphrase(typed));
    } finally {
      typed.fill(0);
    }
    return 'prompt';
  }
  throw new VaultError('locked', 'the vault is locked and no way to unlock it was given', { hint: LOCKED_HINT });
}
