/**
 * The OS keychain behind the `keychain` key slot: a random 256-bit KEK stored under
 * service "vault", account = the vault id.
 *
 * - macOS: Keychain Services; Windows: Credential Manager; Linux (and the BSDs): the
 *   freedesktop Secret Service over the D-Bus session bus (GNOME Keyring, KWallet/ksecretd,
 *   KeePassXC). On Linux the entry is pinned to the Secret Service: @napi-rs/keyring's default
 *   would silently fall back to the kernel keyring, which forgets everything at reboot.
 * - A keychain that cannot be reached never crashes the program: every failure of the
 *   platform store becomes a KeychainUnavailable with a short, lowercase reason, and the
 *   caller moves on to another slot.
 * - @napi-rs/keyring is a native module that costs ~60 ms to load, so it is loaded with
 *   `await import()` on first use, never when this file is imported (`vault get` must stay fast).
 * - No CLI code here: nothing printed, no process.exit.
 *
 * Storage format: the KEK is stored as canonical base64 text with setPassword/getPassword, not
 * as raw bytes with setSecret/getSecret. Raw bytes do not round-trip on every Secret Service:
 * KDE's implementation replaces each byte >= 0x80 with U+FFFD (keyring-rs issue #284) and
 * ksecretd rejects non-UTF-8 data declared as text (keyring-rs #347); Windows stores passwords as
 * UTF-16 (fine for text). 44 ASCII characters survive all of them, and a read that is not
 * canonical base64 is reported instead of being turned into a wrong key. (The price: the base64
 * text is an immutable JS string that cannot be wiped; the Buffer returned by read() can be.)
 *
 * Timeouts: every operation is raced against a timer (5 s by default) and rejects with
 * KeychainUnavailable('the keychain did not answer in 5 s'). The native call itself cannot be
 * cancelled once it runs (the AbortSignal only cancels work still queued in the libuv pool), so
 * after a timeout it keeps going on a libuv thread until the library returns - each D-Bus call
 * gives up after ~2 s, but waiting for an unlock prompt has no limit. Until then the process
 * cannot end: not naturally, and not with process.exit() either (observed on Node 20; libuv
 * joins its thread pool at exit). Only killing the process, or making keychain calls in a
 * child process, avoids that.
 * The Linux constructor also connects synchronously, blocking the event loop up to ~2 s on a
 * hung Secret Service (no timer can fire meanwhile).
 */

import type * as Keyring from '@napi-rs/keyring';

export const KEYCHAIN_SERVICE = 'vault';
export const KEYCHAIN_TIMEOUT_MS = 5_000;
/** The account probe() reads. Never written: reading an absent entry writes nothing. */
export const PROBE_ACCOUNT = 'vault-keychain-probe';
/** Upper bound for a stored secret; the keychain slot stores 32 bytes. */
export const MAX_KEYCHAIN_SECRET_BYTES = 1024;

const ENTRY_OPTIONS: Keyring.EntryOptions = { linux: { store: 'secret-service' } };
const ACCOUNT_RE = /^[0-9a-f]{32}$/;
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The reasons KeychainUnavailable carries. Short, lowercase, no trailing period. */
export const KEYCHAIN_REASONS = {
  noBus: 'no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset)',
  badBusAddress: 'DBUS_SESSION_BUS_ADDRESS is not a valid D-Bus address',
  busUnreachable: 'the D-Bus session bus cannot be reached',
  noSecretService: 'the Secret Service is not running',
  secretServiceFailed: 'the Secret Service failed to start',
  noReply: 'the Secret Service did not reply',
  locked: 'the keychain is locked',
  noDefaultCollection: 'the keychain has no default collection',
  moduleNotLoaded: 'the keyring module could not be loaded',
  malformedEntry: 'the keychain entry is not valid base64',
} as const;

export function timeoutReason(ms: number): string {
  return `the keychain did not answer in ${Number((ms / 1000).toFixed(1))} s`;
}

export class KeychainUnavailable extends Error {
  readonly reason: string;

  constructor(reason: string, options: { cause?: unknown } = {}) {
    super(`the OS keychain is unavailable: ${reason}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KeychainUnavailable';
    this.reason = reason;
  }
}

const LOCKED_FRAGMENTS = [
  'prompt was dismissed', // gnome-keyring: the unlock prompt was cancelled, or could not be shown (no display)
  'prompt dismissed',
  'before prompt completed',
  'object locked',
  'collection is locked',
  'interaction is not allowed', // macOS errSecInteractionNotAllowed: locked keychain, no UI (not verified here)
];

const GENERIC_PREFIXES = [/^platform failure:\s*/i, /^couldn't access platform storage:\s*/i, /^d-?bus error:\s*/i];

/**
 * Maps an error thrown by @napi-rs/keyring to a KeychainUnavailable reason. The library's
 * errors all have code "GenericFailure"; only the message tells them apart. Messages seen
 * with @napi-rs/keyring 2.1.2 (libdbus 1.14 statically linked, gnome-keyring 42):
 *
 *   no bus:      "Platform failure: DBus error: Using X11 for dbus-daemon autolaunch was disabled
 *                 at compile time, set your DBUS_SESSION_BUS_ADDRESS instead"
 *   dead bus:    "Platform failure: DBus error: Failed to connect to socket /x: No such file or directory"
 *   bad address: "Platform failure: DBus error: Address does not contain a colon"
 *   no service:  "Platform failure: DBus error: The name org.freedesktop.secrets was not provided
 *                 by any .service files"
 *   failed start:"Platform failure: DBus error: Process org.freedesktop.secrets exited with status 1"
 *   hung service:"Platform failure: DBus error: Did not receive a reply. Possible causes include: ..."
 *   locked:      "Couldn't access platform storage: Secret Service: unlock prompt was dismissed"
 *   no default:  "Couldn't access platform storage: Secret Service: no result found"
 *
 * Matching is on lowercase fragments, not whole messages, so a reworded prefix still matches.
 * Anything else gets a generic reason quoting the library (its messages never hold a secret).
 */
export function classifyKeychainError(error: unknown): string {
  if (error instanceof KeychainUnavailable) return error.reason;
  const raw = error instanceof Error ? error.message : String(error);
  const m = raw.toLowerCase();

  if (m.includes('autolaunch') || m.includes('dbus_session_bus_address')) return KEYCHAIN_REASONS.noBus;
  if (m.includes('org.freedesktop.secrets')) {
    if (m.includes('not provided by any') || m.includes('serviceunknown') || m.includes('has no owner')) {
      return KEYCHAIN_REASONS.noSecretService;
    }
    if (m.includes('exited') || m.includes('failed to execute') || m.includes('spawn') || m.includes('timed out') || m.includes('activat')) {
      return KEYCHAIN_REASONS.secretServiceFailed;
    }
  }
  if (m.includes('no secret service provider') || m.includes('secret service provider found')) return KEYCHAIN_REASONS.noSecretService;
  if (m.includes('failed to connect to socket') || m.includes('connection refused') || m.includes('could not connect')) {
    return KEYCHAIN_REASONS.busUnreachable;
  }
  if (m.includes('address does not contain') || m.includes('unknown address type') || m.includes('bad address') || m.includes('invalid address')) {
    return KEYCHAIN_REASONS.badBusAddress;
  }
  if (m.includes('did not receive a reply') || m.includes('without replying') || m.includes('no reply')) return KEYCHAIN_REASONS.noReply;
  if (LOCKED_FRAGMENTS.some((fragment) => m.includes(fragment))) return KEYCHAIN_REASONS.locked;
  if (m.includes('no result found')) return KEYCHAIN_REASONS.noDefaultCollection;

  let detail = raw.replace(/\s+/g, ' ').trim();
  for (const prefix of GENERIC_PREFIXES) detail = detail.replace(prefix, '');
  if (detail.length > 160) detail = `${detail.slice(0, 157)}...`;
  return detail ? `the keychain failed: ${detail}` : 'the keychain failed';
}

function unavailable(error: unknown): KeychainUnavailable {
  return error instanceof KeychainUnavailable ? error : new KeychainUnavailable(classifyKeychainError(error), { cause: error });
}

export interface KeychainStore {
  /** The stored secret, or null when there is none. */
  read(account: string): Promise<Buffer | null>;
  /** Creates or replaces the secret. */
  write(account: string, secret: Buffer): Promise<void>;
  /** True if a secret was deleted, false if there was none. */
  remove(account: string): Promise<boolean>;
}

export type KeychainProbe = { available: true } | { available: false; reason: string };

export interface SystemKeychain extends KeychainStore {
  /**
   * Whether the keychain answers, found by reading an entry that does not exist: nothing is
   * written. Limitation: a locked Secret Service collection answers such a read without
   * unlocking (there is nothing to unlock), so probe() reports it available; the lock shows
   * up as KeychainUnavailable('the keychain is locked') on the first read of an existing entry
   * or on a write.
   */
  probe(): Promise<KeychainProbe>;
}

type KeyringModule = Pick<typeof Keyring, 'AsyncEntry'>;

export interface SystemKeychainOptions {
  /** Per-operation limit (default 5000 ms). */
  timeoutMs?: number;
  /** Defaults to process.platform. */
  platform?: NodeJS.Platform;
  /** Loads @napi-rs/keyring; replaceable for tests. */
  loadModule?: () => Promise<KeyringModule>;
}

let keyringModule: Promise<KeyringModule> | undefined;

function loadKeyring(): Promise<KeyringModule> {
  keyringModule ??= import('@napi-rs/keyring').then((mod) => {
    // A CommonJS module: Node exposes its exports as named exports and as `default`.
    const m = (mod as { AsyncEntry?: unknown }).AsyncEntry ? mod : (mod as unknown as { default: typeof Keyring }).default;
    if (typeof m?.AsyncEntry !== 'function') throw new Error('@napi-rs/keyring has no AsyncEntry');
    return m;
  });
  return keyringModule;
}

/** Platforms where @napi-rs/keyring talks to the Secret Service over D-Bus. */
function usesDbus(platform: NodeJS.Platform): boolean {
  return platform !== 'darwin' && platform !== 'win32';
}

function checkAccount(account: string): void {
  if (typeof account !== 'string' || !ACCOUNT_RE.test(account)) {
    throw new TypeError('a keychain account must be a vault id (32 lowercase hex characters)');
  }
}

/** Canonical base64 only: anything else means the entry was damaged or written by someone else. */
function decodeSecret(text: string): Buffer {
  if (text.length === 0 || !BASE64_RE.test(text)) throw new KeychainUnavailable(KEYCHAIN_REASONS.malformedEntry);
  const bytes = Buffer.from(text, 'base64');
  if (bytes.toString('base64') !== text) {
    bytes.fill(0);
    throw new KeychainUnavailable(KEYCHAIN_REASONS.malformedEntry);
  }
  return bytes;
}

/**
 * The real OS keychain. `env` is only used for the up-front D-Bus check; the native library
 * reads the process environment itself. Methods reject with KeychainUnavailable when the
 * keychain cannot be reached, with TypeError/RangeError on bad arguments.
 */
export function systemKeychain(env: NodeJS.ProcessEnv, options: SystemKeychainOptions = {}): SystemKeychain {
  const timeoutMs = options.timeoutMs ?? KEYCHAIN_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new RangeError('timeoutMs must be a positive number');
  const platform = options.platform ?? process.platform;
  const load = options.loadModule ?? loadKeyring;

  async function withEntry<T>(account: string, op: (entry: Keyring.AsyncEntry, signal: AbortSignal) => Promise<T>): Promise<T> {
    // No bus address: fail now. Handing this to libdbus would try X11 autolaunch instead.
    if (usesDbus(platform) && !env.DBUS_SESSION_BUS_ADDRESS?.trim()) throw new KeychainUnavailable(KEYCHAIN_REASONS.noBus);

    const controller = new AbortController();
    const work = (async (): Promise<T> => {
      let mod: KeyringModule;
      try {
        mod = await load();
      } catch (error) {
        throw new KeychainUnavailable(KEYCHAIN_REASONS.moduleNotLoaded, { cause: error });
      }
      try {
        // On Linux the constructor connects to the Secret Service (synchronously; libdbus
        // gives up after ~2 s on a hung service) and throws if it cannot.
        const entry = new mod.AsyncEntry(KEYCHAIN_SERVICE, account, ENTRY_OPTIONS);
        return await op(entry, controller.signal);
      } catch (error) {
        throw unavailable(error);
      }
    })();
    // After a timeout the native call may still settle (or fail) later: never unhandled.
    work.catch(() => undefined);

    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new KeychainUnavailable(timeoutReason(timeoutMs)));
        controller.abort();
      }, timeoutMs);
    });
    try {
      return await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    async read(account: string): Promise<Buffer | null> {
      checkAccount(account);
      const text = await withEntry(account, (entry, signal) => entry.getPassword(signal));
      return text === null ? null : decodeSecret(text);
    },

    async write(account: string, secret: Buffer): Promise<void> {
      checkAccount(account);
      if (!(secret instanceof Uint8Array)) throw new TypeError('a keychain secret must be a Buffer');
      if (secret.length === 0 || secret.length > MAX_KEYCHAIN_SECRET_BYTES) {
        throw new RangeError(`a keychain secret must be 1 to ${MAX_KEYCHAIN_SECRET_BYTES} bytes`);
      }
      const text = Buffer.from(secret.buffer, secret.byteOffset, secret.byteLength).toString('base64');
      await withEntry(account, (entry, signal) => entry.setPassword(text, signal));
    },

    async remove(account: string): Promise<boolean> {
      checkAccount(account);
      return withEntry(account, (entry, signal) => entry.deleteCredential(signal));
    },

    async probe(): Promise<KeychainProbe> {
      try {
        await withEntry(PROBE_ACCOUNT, (entry, signal) => entry.getPassword(signal));
        return { available: true };
      } catch (error) {
        if (error instanceof KeychainUnavailable) return { available: false, reason: error.reason };
        throw error;
      }
    },
  };
}
