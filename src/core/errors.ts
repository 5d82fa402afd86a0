/**
 * The one error class of vault. Every failure that reaches a user carries a code from
 * SPEC §8; the CLI maps codes to exit statuses in exactly one place (exitStatus below).
 * Messages name secrets, never their values.
 */

export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  'not-found': 3,
  locked: 4,
  'auth-failed': 5,
  'not-initialized': 6,
  integrity: 7,
  exists: 8,
  expired: 9,
  cancelled: 130,
} as const;

export type ErrorCode = Exclude<keyof typeof EXIT, 'ok'>;

/**
 * The exit-code table of SPEC §8, in order, plus the statuses `exec` passes on from its
 * command. The single source: `vault help exit-codes` prints it, and a test checks that the
 * README's table says the same (backquotes aside). Never renumbered.
 */
export const EXIT_CODE_TABLE: ReadonlyArray<{ code: number | string; name: string; when: string }> = [
  { code: 0, name: 'ok', when: 'success (an empty list too)' },
  { code: 1, name: 'error', when: 'unexpected or I/O failure; a vault file, directory or -wal/-shm other users can read, change or own' },
  { code: 2, name: 'usage', when: 'bad flags, arguments, names, value too large, empty value' },
  { code: 3, name: 'not-found', when: 'no such secret, version, slot' },
  { code: 4, name: 'locked', when: 'unlocking needed and no non-interactive way was given' },
  { code: 5, name: 'auth-failed', when: 'wrong passphrase or key (one message for every cause); three wrong passphrases at a prompt' },
  { code: 6, name: 'not-initialized', when: 'no vault at the path' },
  { code: 7, name: 'integrity', when: 'a ciphertext, slot, schema or audit entry failed its check; a file that is not a vault' },
  { code: 8, name: 'exists', when: 'put of an existing name without --force, init of an existing vault' },
  { code: 9, name: 'expired', when: "the secret's expiry has passed" },
  { code: 126, name: 'exec: cannot run', when: 'exec: the command was found but cannot be run (permission denied, not executable)' },
  { code: 127, name: 'exec: not found', when: 'exec: the command was not found' },
  { code: '128+N', name: 'exec: signal', when: 'exec: the command died of signal N (130 for SIGINT, 143 for SIGTERM)' },
  { code: 130, name: 'cancelled', when: 'Ctrl-C at a prompt or while unlocking' },
];

export interface VaultErrorOptions {
  hint?: string;
  cause?: unknown;
  /** machine-readable facts added to the `--json` error object (e.g. the audit entry that failed); never a value */
  details?: Record<string, string | number | boolean | null>;
}

export class VaultError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly details: Record<string, string | number | boolean | null> | undefined;

  constructor(code: ErrorCode, message: string, options: VaultErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'VaultError';
    this.code = code;
    this.hint = options.hint;
    this.details = options.details;
  }

  get exitStatus(): number {
    return EXIT[this.code];
  }
}

export function exitStatus(code: ErrorCode): number {
  return EXIT[code];
}

export function isVaultError(e: unknown, code?: ErrorCode): e is VaultError {
  return e instanceof VaultError && (code === undefined || e.code === code);
}

/** Plain words for the errno codes a user meets when naming a file (SPEC §9: no raw ENOENT). */
const ERRNO_WORDS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EEXIST: 'already exists',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EIO: 'input/output error',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'file name too long',
  EMFILE: 'too many open files',
  ENXIO: 'no such device or address',
  ETXTBSY: 'text file busy',
  EBUSY: 'resource busy',
};

/** Why a file operation failed, in plain words ("no such file"), for an error message. */
export function errnoText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code !== undefined && ERRNO_WORDS[code] !== undefined) return ERRNO_WORDS[code];
  const message = (e as Error | undefined)?.message ?? String(e);
  return code ?? message;
}
