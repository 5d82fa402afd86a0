/**
 * The library API of vault (SPEC §11): open a vault with an unlock option and read or write
 * secrets in-process. No CLI code is behind it: nothing here prompts, prints or exits.
 * Errors are `VaultError`s carrying the codes of SPEC §8.
 *
 *   import { openVault } from 'vault-cli';
 *   const vault = await openVault({ unlock: { masterKey: process.env.VAULT_MASTER_KEY! } });
 *   const token = vault.get('GITHUB_TOKEN');
 *   vault.close();
 */
import { VaultError } from './core/errors.js';
import { checkNamespace, DEFAULT_NS, formatRef, parseSecretRef } from './core/names.js';
import { Vault, type PutOptions, type SecretInfo } from './core/vault.js';
import { openLocked, unlock } from './core/open.js';
import { defaultVaultPath } from './store/paths.js';
import { systemKeychain } from './unlock/keychain.js';
import { keychainWarning, unlockWithKeychain } from './unlock/keychain-slot.js';
import { readEnv } from './core/bulk.js';
import { maskSecrets } from './exec/mask.js';

export { VaultError, EXIT, EXIT_CODE_TABLE, type ErrorCode } from './core/errors.js';
export type { SecretInfo, VersionInfo, SlotInfo, VaultStatus } from './core/vault.js';
export { Vault } from './core/vault.js';

export type Unlock =
  | { passphrase: string | Buffer }
  | { masterKey: string }
  /** the keychain slot's key, as read from the OS keychain by the caller */
  | { keychainKek: Buffer; slotId: string }
  /** the keychain slot, with its key read from the OS keychain here (service `vault`, account = vault id) */
  | { keychain: true }
  /** the session started by `vault unlock` for this vault (found through env's XDG_RUNTIME_DIR or TMPDIR) */
  | { session: true }
  /**
   * as a member of a team vault: the identity kept in the personal vault at `vault` (default
   * $VAULT_IDENTITY_VAULT, else the local vault `vault identity` uses), opened with `unlock`
   */
  | { identity: { vault?: string; unlock: Unlock } };

export interface OpenVaultOptions {
  /** the vault file; default $VAULT_PATH or the platform data directory */
  path?: string;
  /** the namespace names resolve in when they carry none; default $VAULT_NS or `default` */
  ns?: string;
  unlock: Unlock;
  /** accept a vault whose file, directory or -wal/-shm other users can read, change or own (never a symbolic link) */
  insecurePermissions?: boolean;
  /** the environment used for the defaults above; default process.env */
  env?: NodeJS.ProcessEnv;
}

export interface GetOptions {
  version?: number;
  allowExpired?: boolean;
}

/** An unlocked vault. Call close() when done: it zeroes the keys and closes the file. */
export interface VaultHandle {
  readonly path: string;
  readonly ns: string;
  /** the value as UTF-8 text */
  get(name: string, options?: GetOptions): string;
  /** the exact bytes */
  getBuffer(name: string, options?: GetOptions): Buffer;
  /** the value parsed as JSON; a value that is not JSON is a `usage` error naming the secret */
  getJson<T = unknown>(name: string, options?: GetOptions): T;
  put(name: string, value: string | Buffer, options?: PutOptions): { version: number };
  list(options?: { prefix?: string; allNamespaces?: boolean }): SecretInfo[];
  /**
   * The namespace's current secrets as environment variables (one audit entry, op `env`).
   * Refuses (usage) a value with a NUL byte or invalid UTF-8, and (expired) an expired one.
   */
  env(options?: { only?: string[]; prefix?: string; allowExpired?: boolean }): Record<string, string>;
  /**
   * `text` with every value this handle knows replaced by `*****` (values of 4 or more
   * characters): the namespace's current values, read once on first use (one `env` audit
   * entry; expired ones included), and every value get/env returned since.
   */
  maskSecrets(text: string): string;
  close(): void;
  /** the underlying facade, for operations this interface does not wrap */
  readonly vault: Vault;
}

export async function openVault(options: OpenVaultOptions): Promise<VaultHandle> {
  const env = options.env ?? process.env;
  const path = options.path ?? defaultVaultPath(env);
  const ns = checkNamespace(options.ns ?? (env.VAULT_NS || DEFAULT_NS));
  // The same open and unlock as the CLI (src/core/open.ts): same checks, same answers.
  const vault = openLocked({ path, env, insecurePermissions: options.insecurePermissions === true });
  try {
    await unlockBy(vault, options.unlock, env, options.insecurePermissions === true);
  } catch (e) {
    vault.close();
    throw e;
  }
  return new Handle(vault, ns);
}

/** Unlocks an open vault as `u` says (openVault's unlock option). */
async function unlockBy(vault: Vault, u: Unlock, env: NodeJS.ProcessEnv, insecurePermissions: boolean): Promise<void> {
  if ('masterKey' in u) {
    await unlock(vault, { masterKey: u.masterKey, masterKeyName: 'the master key' });
  } else if ('passphrase' in u) {
    // a copy: unlock zeroes what it is given, and the caller's buffer is the caller's
    const bytes = Buffer.isBuffer(u.passphrase) ? Buffer.from(u.passphrase) : Buffer.from(u.passphrase, 'utf8');
    await unlock(vault, { passphraseBytes: bytes });
  } else if ('session' in u) {
    await unlock(vault, {
      session: async (v) => {
        const { unlockFromSession } = await import('./agent/client.js');
        const r = await unlockFromSession(v, env);
        if (!r.ok) throw new VaultError('locked', r.note ?? 'no session is running for this vault', { hint: 'start one with vault unlock, or unlock with a passphrase or a master key' });
        return true;
      },
    });
  } else if ('identity' in u) {
    const { personalVaultPath, unlockWithIdentity } = await import('./unlock/identity.js');
    const personalPath = u.identity.vault ?? personalVaultPath(env, vault.path);
    const ok = await unlockWithIdentity(vault, {
      path: personalPath,
      open: (p) => openLocked({ path: p, env, insecurePermissions }),
      unlock: (personal) => unlockBy(personal, u.identity.unlock, env, insecurePermissions),
    });
    if (!ok) throw new VaultError('locked', `no identity in ${personalPath}`, { hint: 'vault identity makes one; a member adds it with vault member add' });
  } else if ('keychain' in u) {
    await unlock(vault, {
      keychain: async (v) => {
        const attempt = await unlockWithKeychain(v, systemKeychain(env));
        if (!attempt.ok) {
          throw new VaultError('locked', `cannot unlock with the OS keychain: ${keychainWarning(attempt.reason)}`, {
            hint: 'unlock with a passphrase or a master key instead',
          });
        }
        return true;
      },
    });
  } else {
    await vault.unlockWithKeychainKek(u.slotId, u.keychainKek);
  }
}

class Handle implements VaultHandle {
  private known: Set<string> | null = null;
  private returned = new Set<string>();

  constructor(
    readonly vault: Vault,
    readonly ns: string,
  ) {}

  get path(): string {
    return this.vault.path;
  }

  getBuffer(name: string, options: GetOptions = {}): Buffer {
    const value = this.vault.get(parseSecretRef(name, this.ns), options).value;
    this.returned.add(value.toString('utf8'));
    return value;
  }

  get(name: string, options: GetOptions = {}): string {
    const bytes = this.getBuffer(name, options);
    try {
      return bytes.toString('utf8');
    } finally {
      bytes.fill(0);
    }
  }

  getJson<T = unknown>(name: string, options: GetOptions = {}): T {
    const text = this.get(name, options);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new VaultError('usage', `secret ${formatRef(parseSecretRef(name, this.ns))} is not valid JSON`);
    }
  }

  put(name: string, value: string | Buffer, options: PutOptions = {}): { version: number } {
    const bytes = Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8');
    return this.vault.put(parseSecretRef(name, this.ns), bytes, options);
  }

  list(options: { prefix?: string; allNamespaces?: boolean } = {}): SecretInfo[] {
    return this.vault.list({
      ...(options.allNamespaces ? {} : { ns: this.ns }),
      ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
    });
  }

  env(options: { only?: string[]; prefix?: string; allowExpired?: boolean } = {}): Record<string, string> {
    const vars = readEnv(this.vault, { ns: this.ns, ...options });
    for (const value of Object.values(vars)) this.returned.add(value);
    return vars;
  }

  maskSecrets(text: string): string {
    if (this.known === null) {
      this.known = new Set(Object.values(readEnv(this.vault, { ns: this.ns, allowExpired: true })));
    }
    return maskSecrets(text, [...this.known, ...this.returned]);
  }

  close(): void {
    this.known = null;
    this.returned.clear();
    this.vault.close();
  }
}
