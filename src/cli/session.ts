import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { VaultError } from '../core/errors.js';
import { checkNamespace, DEFAULT_NS, MAX_VALUE_BYTES, parseSecretRef, type SecretRef } from '../core/names.js';
import { Vault } from '../core/vault.js';
import { openLocked, unlock } from '../core/open.js';
import { defaultVaultPath } from '../store/paths.js';
import type { UnlockMethod } from '../unlock/sources.js';
import { systemKeychain, type SystemKeychain } from '../unlock/keychain.js';
import { keychainWarning, unlockWithKeychain } from '../unlock/keychain-slot.js';
import { colorEnabled, inCI, readAll, type IO } from './io.js';
import { jsonText, withSpinner } from './output.js';
import { sessionsOff } from '../agent/protocol.js';
import { promptHidden } from './prompt.js';

/** The global flags of SPEC §6, as commander parses them. */
export interface GlobalOptions {
  vault?: string;
  ns?: string;
  json?: boolean;
  input?: boolean;
  color?: boolean;
  quiet?: boolean;
  debug?: boolean;
  insecurePermissions?: boolean;
  /** false with --no-session */
  session?: boolean;
}

/**
 * One command invocation: its streams, its global options, and the shared steps every command
 * takes (find the vault, unlock it, read a value, print data or messages).
 */
export class Session {
  readonly opts: GlobalOptions;
  private systemKeychain: SystemKeychain | undefined;
  private keychainReported = false;

  constructor(
    readonly io: IO,
    command: Command,
  ) {
    this.opts = command.optsWithGlobals<GlobalOptions>();
  }

  get env(): NodeJS.ProcessEnv {
    return this.io.env;
  }

  get json(): boolean {
    return this.opts.json === true;
  }

  get vaultPath(): string {
    return this.opts.vault ?? defaultVaultPath(this.env);
  }

  /** --ns, else $VAULT_NS, else `default`. */
  get ns(): string {
    return checkNamespace(this.opts.ns ?? (this.env.VAULT_NS || DEFAULT_NS));
  }

  ref(arg: string): SecretRef {
    return parseSecretRef(arg, this.ns);
  }

  /** stdin and stderr are terminals, --no-input not given, CI not set (SPEC §4). */
  get interactive(): boolean {
    return this.io.stdin.isTTY === true && this.io.stderr.isTTY === true && this.opts.input !== false && !inCI(this.env);
  }

  get stderrColor(): boolean {
    return colorEnabled(this.io.stderr, this.env, this.opts.color !== false);
  }

  get stdoutColor(): boolean {
    return colorEnabled(this.io.stdout, this.env, this.opts.color !== false);
  }

  /** Data for stdout. */
  out(data: string | Buffer): void {
    this.io.stdout.write(data);
  }

  /**
   * Data for stdout, resolved once the stream has taken it. A pipe write completes later, and
   * it keeps a reference to the Buffer, not a copy: wipe a value only after this resolves.
   * Write errors (EPIPE) are left to the stream's error handler.
   */
  outFlushed(data: string | Buffer): Promise<void> {
    return new Promise((resolve) => {
      this.io.stdout.write(data, () => resolve());
    });
  }

  outJson(value: unknown): void {
    this.io.stdout.write(jsonText(value) + '\n');
  }

  /** A message for stderr, silenced by --quiet. */
  info(message: string): void {
    if (!this.opts.quiet) this.io.stderr.write(`${message}\n`);
  }

  warn(message: string): void {
    if (!this.opts.quiet) this.io.stderr.write(`vault: warning: ${message}\n`);
  }

  /** The OS keychain (its native module loads on first use, not here). */
  keychain(): SystemKeychain {
    return (this.systemKeychain ??= systemKeychain(this.env));
  }

  /** SPEC §4: a keychain problem is said once per run, then unlocking goes on down the list. */
  keychainWarn(message: string): void {
    if (this.keychainReported) return;
    this.keychainReported = true;
    this.warn(message);
  }

  slow<T>(label: string, work: () => Promise<T>): Promise<T> {
    return withSpinner(this.io, !this.opts.quiet, label, work);
  }

  /** `path`: another vault than --vault/VAULT_PATH names (vault identity's personal vault). */
  openVault(options: { acceptRestore?: boolean; path?: string } = {}): Vault {
    return openLocked({ path: options.path ?? this.vaultPath, env: this.env, insecurePermissions: this.opts.insecurePermissions === true, acceptRestore: options.acceptRestore === true });
  }

  /** Sessions are used unless --no-session or VAULT_SESSION=off. */
  get sessionsAllowed(): boolean {
    return this.opts.session !== false && !sessionsOff(this.env);
  }

  /** Unlocks by the order of SPEC §4; `vault unlock` itself passes session: false. */
  async unlock(vault: Vault, options: { session?: boolean } = {}): Promise<UnlockMethod> {
    const env = this.env;
    return unlock(vault, {
      masterKey: env.VAULT_MASTER_KEY,
      masterKeyFile: env.VAULT_MASTER_KEY_FILE,
      passphrase: env.VAULT_PASSPHRASE,
      passphraseFile: env.VAULT_PASSPHRASE_FILE,
      session:
        options.session !== false && this.sessionsAllowed
          ? async (v) => {
              // Loaded only when no environment variable unlocked: node:net and a few lines.
              const { unlockFromSession } = await import('../agent/client.js');
              const r = await unlockFromSession(v, env);
              if (r.note) this.warn(r.note);
              return r.ok;
            }
          : undefined,
      keychain: async (v) => {
        const attempt = await unlockWithKeychain(v, this.keychain());
        if (!attempt.ok) this.keychainWarn(keychainWarning(attempt.reason));
        return attempt.ok;
      },
      prompt: this.interactive ? () => promptHidden(this.io, `Passphrase for ${vault.path}`) : undefined,
      slow: (label, work) => this.slow(label, work),
    });
  }

  /** Opens the vault (unlocked when asked), runs fn, and always closes it. */
  async withVault<T>(unlock: boolean, fn: (vault: Vault) => Promise<T> | T, options: { acceptRestore?: boolean; path?: string } = {}): Promise<T> {
    const vault = this.openVault(options);
    try {
      if (unlock) await this.unlock(vault);
      return await fn(vault);
    } finally {
      vault.close();
    }
  }

  /**
   * A secret value from --from-file (exact bytes), a hidden prompt on a terminal, or stdin
   * (one trailing newline dropped unless raw). Never from argv. Over 1 MiB: usage, nothing written.
   */
  async readValue(label: string, options: { fromFile?: string; raw?: boolean }): Promise<Buffer> {
    let value: Buffer;
    if (options.fromFile !== undefined) {
      try {
        value = readFileSync(options.fromFile);
      } catch (e) {
        throw new VaultError('usage', `cannot read ${options.fromFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      if (value.length > MAX_VALUE_BYTES) throw tooLarge(value.length);
    } else if (this.io.stdin.isTTY === true) {
      if (!this.interactive) {
        throw new VaultError('usage', `no value for ${label}: stdin is a terminal and prompting is off`, {
          hint: 'pipe the value on stdin or use --from-file',
        });
      }
      value = await promptHidden(this.io, `Value for ${label}`);
    } else {
      const read = await readAll(this.io.stdin, MAX_VALUE_BYTES + 2);
      if (read === null) throw tooLarge(null);
      value = read;
      if (!options.raw) {
        if (value.length > 0 && value[value.length - 1] === 0x0a) value = value.subarray(0, value.length - 1);
      }
      if (value.length > MAX_VALUE_BYTES) throw tooLarge(value.length);
    }
    if (value.length === 0) {
      throw new VaultError('usage', `empty value for ${label}`, { hint: 'pipe the value on stdin, or use --from-file' });
    }
    return value;
  }
}

function tooLarge(size: number | null): VaultError {
  return new VaultError('usage', size === null ? 'value is larger than the 1 MiB limit' : `value is ${size} bytes, more than the 1 MiB limit`);
}
