import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { VaultError, errnoText, isVaultError } from '../core/errors.js';
import { checkNamespace, DEFAULT_NS, formatRef, looksLikeReference, MAX_VALUE_BYTES, parseReference, parseSecretRef, type SecretRef, type VersionedRef } from '../core/names.js';
import { dateOnly } from './render.js';
import { Vault } from '../core/vault.js';
import { openLocked, unlock } from '../core/open.js';
import { defaultVaultPath } from '../store/paths.js';
import type { UnlockMethod } from '../unlock/sources.js';
import { systemKeychain, type SystemKeychain } from '../unlock/keychain.js';
import { keychainWarning, unlockWithKeychain } from '../unlock/keychain-slot.js';
import { colorEnabled, inCI, readAll, type IO } from './io.js';
import { jsonText, withSpinner, writeJsonArray } from './output.js';
import { sessionsOff } from '../agent/protocol.js';
import { closest, orList } from './hints.js';
import { shouldShowOnce } from './notices.js';
import { promptHidden, promptValue } from './prompt.js';

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

  /**
   * NAME, NS/NAME, or a reference vault://NS/NAME as `inject` and `--env-file` take it (without
   * @VERSION: versionedRef allows one). An explicit --ns that contradicts the NS of the argument
   * is a usage error rather than a silent choice of one of them.
   */
  ref(arg: string): SecretRef {
    const ref = this.versionedRef(arg);
    if (ref.version !== undefined) {
      throw new VaultError('usage', `a version (@${ref.version}) is not taken here`, { hint: `name the secret as ${formatRef(ref)}` });
    }
    return { ns: ref.ns, name: ref.name };
  }

  versionedRef(arg: string): VersionedRef {
    const ref: VersionedRef = looksLikeReference(arg) ? parseReference(arg, this.ns) : parseSecretRef(arg, this.ns);
    const given = this.opts.ns;
    const body = looksLikeReference(arg) ? arg.slice('vault://'.length) : arg;
    if (given !== undefined && body.includes('/') && ref.ns !== given) {
      throw new VaultError('usage', `--ns ${given} contradicts the namespace ${ref.ns} in ${JSON.stringify(arg)}`, {
        hint: `drop --ns, or name the secret as ${given}/${ref.name}`,
      });
    }
    return ref;
  }

  /** stdin and stderr are terminals, --no-input not given, CI not set (SPEC §4). */
  get interactive(): boolean {
    return this.stdinIsTTY && this.io.stderr.isTTY === true && this.opts.input !== false && !inCI(this.env);
  }

  /** Whether stdin is a terminal; told without making node's stream where the IO can (IO.stdinIsTTY). */
  get stdinIsTTY(): boolean {
    return this.io.stdinIsTTY?.() ?? this.io.stdin.isTTY === true;
  }

  get stderrColor(): boolean {
    return colorEnabled(this.io.stderr, this.env, this.opts.color !== false);
  }

  get stdoutColor(): boolean {
    return colorEnabled({ isTTY: this.stdoutIsTTY }, this.env, this.opts.color !== false);
  }

  /** Whether stdout is a terminal; told without making node's stream where directStdout can. */
  get stdoutIsTTY(): boolean {
    return this.io.directStdout?.() === undefined && this.io.stdout.isTTY === true;
  }

  /** Data for stdout. */
  out(data: string | Buffer): void {
    this.write(data);
  }

  /**
   * Data for stdout, resolved once the stream has taken it. A pipe write completes later, and
   * it keeps a reference to the Buffer, not a copy: wipe a value only after this resolves.
   * Write errors (EPIPE) are left to the stream's error handler.
   */
  outFlushed(data: string | Buffer): Promise<void> {
    const rest = this.writeDirect(data);
    if (rest === null) return Promise.resolve();
    return new Promise((resolve) => {
      this.io.stdout.write(rest, () => resolve());
    });
  }

  outJson(value: unknown): void {
    this.write(jsonText(value) + '\n');
  }

  /** `outJson(items.map(toJson))`, the same bytes, written in pieces (see writeJsonArray). */
  outJsonArray<T>(items: readonly T[], toJson: (item: T) => unknown): void {
    writeJsonArray((text) => this.write(text), items, toJson);
  }

  private write(data: string | Buffer): void {
    const rest = this.writeDirect(data);
    if (rest !== null) this.io.stdout.write(rest);
  }

  /**
   * Writes `data` straight to the process's stdout when the IO can (IO.directStdout): null
   * when all of it went; else what is left for the stream (all of it without a direct way).
   */
  private writeDirect(data: string | Buffer): string | Buffer | null {
    const direct = this.io.directStdout?.();
    return direct === undefined ? data : direct.write(data);
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
  keychainWarn(message: string, vaultId?: string): void {
    if (this.keychainReported) return;
    this.keychainReported = true;
    if (this.opts.quiet) return;
    // An unavailable keychain is said once a day per vault, not on every command (see notices.ts).
    if (vaultId !== undefined && !shouldShowOnce(this.env, vaultId, 'keychain', message)) return;
    this.warn(message);
  }

  slow<T>(label: string, work: () => Promise<T>): Promise<T> {
    return withSpinner(this.io, !this.opts.quiet, label, work);
  }

  /** `path`: another vault than --vault/VAULT_PATH names (vault identity's personal vault). */
  openVault(options: { acceptRestore?: boolean; path?: string } = {}): Vault {
    return openLocked({
      path: options.path ?? this.vaultPath,
      env: this.env,
      insecurePermissions: this.opts.insecurePermissions === true,
      acceptRestore: options.acceptRestore === true,
      passphraseKdf: this.io.passphraseKdf,
    });
  }

  /** Sessions are used unless --no-session or VAULT_SESSION=off. */
  get sessionsAllowed(): boolean {
    return this.opts.session !== false && !sessionsOff(this.env);
  }

  /**
   * After this process rotated the data key (rotate --master, member rm): a running session of
   * this vault would hold a key that no longer opens it, so it takes the new one
   * (docs/security.md, "Sessions"). Whether a session was updated. The caller wipes `oldKey`.
   */
  async handOverKey(vault: Vault, oldKey: Buffer): Promise<boolean> {
    if (!this.sessionsAllowed) return false;
    const { refreshSession, sessionPath } = await import('../agent/client.js');
    const newKey = vault.dataKeyCopy();
    try {
      return await refreshSession(this.env, vault.id, sessionPath(vault.path), oldKey, newKey);
    } finally {
      newKey.fill(0);
    }
  }

  /**
   * Unlocks by the order of SPEC §4. A wrong passphrase typed at the prompt may be typed again,
   * three attempts in all (each one is audited as a failed unlock by the vault), then exit 5.
   * `vault unlock` itself passes session: false.
   */
  async unlock(vault: Vault, options: { session?: boolean; identity?: boolean } = {}): Promise<UnlockMethod> {
    const method = await this.unlockBy(vault, options);
    // A vault with members: their keys, now verified, against this client's pins (warned once).
    if (vault.hasSlot('member')) {
      const { checkMemberPins } = await import('./member-pins.js');
      checkMemberPins(this.env, vault, (m) => this.warn(m));
    }
    return method;
  }

  private async unlockBy(vault: Vault, options: { session?: boolean; identity?: boolean }): Promise<UnlockMethod> {
    const env = this.env;
    let prompted = false;
    const ask = (): Promise<Buffer> => {
      prompted = true;
      return promptHidden(this.io, `Passphrase for ${vault.path}`);
    };
    // Whether a prompt is allowed is asked only when the environment did not unlock: it looks at
    // stdin, which node makes (with its stream modules) on first use.
    const session = this;
    const slow = <T>(label: string, work: () => Promise<T>): Promise<T> => this.slow(label, work);
    try {
      return await unlock(vault, {
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
          // Only "unavailable" is remembered for a day: a missing or wrong key needs fixing and is said every time.
          if (!attempt.ok) this.keychainWarn(keychainWarning(attempt.reason), attempt.reason.kind === 'unavailable' ? v.id : undefined);
          return attempt.ok;
        },
        identity:
          options.identity !== false
            ? async (v) => {
                // Loaded only for a vault with member slots.
                const { personalVaultPath, unlockWithIdentity } = await import('../unlock/identity.js');
                return unlockWithIdentity(
                  v,
                  { path: personalVaultPath(env, v.path), open: (path) => this.openVault({ path }), unlock: (personal) => this.unlock(personal, { identity: false }) },
                  (member, firstOpen) => {
                    if (firstOpen) {
                      this.info(`opened ${v.path} as member ${member} for the first time; vault fingerprint: ${v.fingerprint()}`);
                      this.info('compare it with the one the member who added you was shown (vault member add prints it)');
                    }
                  },
                );
              }
            : undefined,
        get prompt() {
          return session.interactive ? ask : undefined;
        },
        slow,
      });
    } catch (e) {
      if (isVaultError(e, 'auth-failed') && prompted) return this.retryPrompt(vault, ask, slow);
      if (isVaultError(e, 'locked')) throw new VaultError('locked', e.message, { hint: this.lockedHint(vault) });
      throw e;
    }
  }

  private async retryPrompt(vault: Vault, prompt: () => Promise<Buffer>, slow: <T>(label: string, work: () => Promise<T>) => Promise<T>): Promise<UnlockMethod> {
    const ATTEMPTS = 3;
    for (let attempt = 2; ; attempt++) {
      const left = ATTEMPTS - attempt + 1;
      this.io.stderr.write(`vault: wrong passphrase; try again (${left} ${left === 1 ? 'attempt' : 'attempts'} left)\n`);
      try {
        return await unlock(vault, { prompt, slow });
      } catch (e) {
        if (!isVaultError(e, 'auth-failed') || attempt === ATTEMPTS) throw e;
      }
    }
  }

  /** The ways to unlock that fit here: no "run in a terminal" under --no-input or CI, no "enable the keychain" when it is. */
  lockedHint(vault: Vault): string {
    const ways = ['set VAULT_PASSPHRASE(_FILE) or VAULT_MASTER_KEY(_FILE)'];
    if (!vault.hasSlot('keychain')) ways.push('enable the OS keychain with vault keychain enable');
    if (this.opts.input !== false && !inCI(this.env)) ways.push('run in a terminal to be asked');
    return ways.length === 1 ? ways[0]! : `${ways.slice(0, -1).join(', ')}, or ${ways.at(-1)}`;
  }

  /** Opens the vault (unlocked when asked), runs fn, and always closes it. */
  async withVault<T>(unlock: boolean, fn: (vault: Vault) => Promise<T> | T, options: { acceptRestore?: boolean; path?: string } = {}): Promise<T> {
    const vault = this.openVault(options);
    try {
      if (unlock) await this.unlock(vault);
      return await fn(vault);
    } catch (e) {
      throw isVaultError(e, 'not-found') ? explainMissing(vault, e) : e;
    } finally {
      vault.close();
    }
  }

  /**
   * A secret value from --from-file (exact bytes), a hidden prompt on a terminal, or stdin
   * (one trailing newline dropped unless raw). Never from argv. Over 1 MiB: usage, nothing written.
   */
  async readValue(label: string, options: { fromFile?: string; raw?: boolean; multiline?: boolean }): Promise<Buffer> {
    let value: Buffer;
    if (options.fromFile !== undefined) {
      try {
        value = readFileSync(options.fromFile);
      } catch (e) {
        throw new VaultError('usage', `cannot read ${options.fromFile}: ${errnoText(e)}`);
      }
      if (value.length > MAX_VALUE_BYTES) throw tooLarge(value.length);
    } else if (this.io.stdin.isTTY === true) {
      if (!this.interactive) {
        throw new VaultError('usage', `no value for ${label}: stdin is a terminal and prompting is off`, {
          hint: 'pipe the value on stdin or use --from-file',
        });
      }
      value = await promptValue(this.io, label, { multiline: options.multiline === true });
      // As from a pipe: one final newline (typed before Ctrl-D) is not part of the value.
      if (options.multiline && !options.raw && value.length > 0 && value[value.length - 1] === 0x0a) value = value.subarray(0, value.length - 1);
    } else {
      const read = await readAll(this.io.stdin, MAX_VALUE_BYTES + 2);
      if (read === null) throw tooLarge(null);
      value = read;
      if (!options.raw) {
        if (value.length > 0 && value[value.length - 1] === 0x0a) value = value.subarray(0, value.length - 1);
      }
      if (value.length > MAX_VALUE_BYTES) throw tooLarge(value.length);
      if (value.length === 0) {
        throw new VaultError('usage', `empty value for ${label} on stdin; nothing was stored`, {
          hint: 'was the variable you piped unset or empty? echo "$TOKEN" | vault put NAME sends only a newline when TOKEN is unset',
        });
      }
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

const NOT_FOUND_MESSAGE = /^no secret ([a-z0-9][a-z0-9._-]*)\/([A-Za-z_][A-Za-z0-9_]*)$/;

/**
 * A "no secret NS/NAME" with a hint that helps: the secret was removed (and rollback restores
 * it), a name that differs only in case or by a typo, or the same name in another namespace.
 * The names come from the file as it is (the vault may be locked): display only, escaped.
 */
export function explainMissing(vault: Vault, e: VaultError): VaultError {
  const m = NOT_FOUND_MESSAGE.exec(e.message);
  if (!m) return e;
  const ref = { ns: m[1]!, name: m[2]! };
  try {
    const removed = vault.findSecret(ref, true);
    if (removed && removed.removed_at !== null) {
      return new VaultError('not-found', `${e.message}: it was removed on ${dateOnly(removed.removed_at)}`, {
        hint: `vault rollback ${formatRef(ref)} ${removed.current_version} restores it`,
        cause: e,
      });
    }
    const here = vault.list({ ns: ref.ns }).map((i) => i.name);
    const near = closest(ref.name, here);
    if (near.length > 0) return new VaultError('not-found', e.message, { hint: `did you mean ${orList(near)}?`, cause: e });
    const elsewhere = vault
      .list()
      .filter((i) => i.ns !== ref.ns && i.name === ref.name)
      .map((i) => formatRef(i));
    if (elsewhere.length > 0) return new VaultError('not-found', e.message, { hint: `did you mean ${orList(elsewhere)}? (--ns or NS/NAME picks the namespace)`, cause: e });
  } catch {
    // a hint is not worth a second error
  }
  return e;
}
