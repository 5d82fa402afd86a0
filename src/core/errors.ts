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

/** The SPEC §8 table, in order; `vault help exit-codes` prints it. Never renumbered. */
export const EXIT_CODE_TABLE: ReadonlyArray<{ code: number; name: string; when: string }> = [
  { code: 0, name: 'ok', when: 'success (an empty list too)' },
  { code: 1, name: 'error', when: 'unexpected or I/O failure' },
  { code: 2, name: 'usage', when: 'bad flags, arguments, names, value too large' },
  { code: 3, name: 'not-found', when: 'no such secret, version, slot' },
  { code: 4, name: 'locked', when: 'unlocking needed and no non-interactive way was given' },
  { code: 5, name: 'auth-failed', when: 'wrong passphrase or key' },
  { code: 6, name: 'not-initialized', when: 'no vault at the path' },
  { code: 7, name: 'integrity', when: 'a ciphertext, slot, schema or audit entry failed its check' },
  { code: 8, name: 'exists', when: 'put of an existing name without --force, init of an existing vault' },
  { code: 9, name: 'expired', when: "the secret's expiry has passed" },
  { code: 130, name: 'cancelled', when: 'Ctrl-C at a prompt' },
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
