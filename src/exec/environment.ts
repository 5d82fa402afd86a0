/**
 * The environment a child of `vault exec` gets (SPEC §7): the inherited environment (or, with
 * `pristine`, only a few variables of it), minus the variables that unlock a vault, plus the
 * injected variables, which win.
 */

/** Variables that unlock a vault: the child must never receive the key to the whole vault. */
export const UNLOCK_VARIABLES: ReadonlyArray<string> = [
  'VAULT_MASTER_KEY',
  'VAULT_MASTER_KEY_FILE',
  'VAULT_PASSPHRASE',
  'VAULT_PASSPHRASE_FILE',
  'VAULT_NEW_PASSPHRASE',
  'VAULT_NEW_PASSPHRASE_FILE',
];

/** What `--pristine` keeps of the inherited environment. */
export const PRISTINE_VARIABLES: ReadonlyArray<string> = ['PATH', 'HOME', 'USER', 'LANG', 'TERM'];

export interface ChildEnvironment {
  env: Record<string, string>;
  /** injected names that replaced a different inherited value, in injection order */
  overridden: string[];
}

/**
 * Builds the child's environment. Unlock variables are dropped from what is inherited only:
 * an injected variable of that name is a secret the user stored on purpose and is passed on.
 */
export function childEnvironment(inherited: Record<string, string | undefined>, injected: Map<string, string>, options: { pristine?: boolean } = {}): ChildEnvironment {
  // No prototype: `__proto__` is a valid secret name and must become a plain variable.
  const env: Record<string, string> = Object.create(null) as Record<string, string>;
  const keep = options.pristine ? PRISTINE_VARIABLES : Object.keys(inherited);
  for (const key of keep) {
    const value = inherited[key];
    if (value !== undefined && !UNLOCK_VARIABLES.includes(key)) env[key] = value;
  }
  const overridden: string[] = [];
  for (const [key, value] of injected) {
    if (env[key] !== undefined && env[key] !== value) overridden.push(key);
    env[key] = value;
  }
  return { env, overridden };
}

// ---- the size limit of a command's arguments and environment (exec at 50,000 secrets) -----

/** What execve(2) accepts: `total` bytes of argument and environment strings (with pointers), `each` per string (0: no limit). */
export interface ExecLimit {
  total: number;
  each: number;
  /** how the limit is named in the refusal */
  name: string;
}

/**
 * This system's limit. Linux: ARG_MAX is a quarter of the stack size limit (read from
 * /proc/self/limits, no child process), at least 128 KiB, and one string may be at most
 * MAX_ARG_STRLEN (32 pages, 128 KiB); macOS and the BSDs: 1 MiB and 256 KiB; elsewhere a
 * conservative 128 KiB.
 */
export function execLimit(readFile: (path: string) => string): ExecLimit {
  if (process.platform === 'linux') {
    let stack = 8 * 1024 * 1024;
    try {
      const m = /^Max stack size\s+(\d+|unlimited)/m.exec(readFile('/proc/self/limits'));
      if (m) stack = m[1] === 'unlimited' ? 6 * 1024 * 1024 * 4 : Number(m[1]);
    } catch {
      // the default stack limit
    }
    // With an unlimited stack the kernel caps ARG_MAX at 3/4 of its _STK_LIM-based maximum: 6 MiB is safe.
    return { total: Math.min(Math.max(Math.floor(stack / 4), 128 * 1024), 6 * 1024 * 1024), each: 128 * 1024, name: 'ARG_MAX' };
  }
  if (process.platform === 'darwin') return { total: 1024 * 1024, each: 0, name: 'ARG_MAX' };
  if (process.platform.endsWith('bsd')) return { total: 256 * 1024, each: 0, name: 'ARG_MAX' };
  return { total: 128 * 1024, each: 0, name: 'ARG_MAX' };
}

/** Bytes one `NAME=value` string costs execve: its UTF-8 bytes, the NUL, and its pointer. */
export function execStringBytes(nameBytes: number, valueBytes: number): number {
  return nameBytes + 1 + valueBytes + 1 + 8;
}

/** Bytes the argument strings and the inherited (or pristine) environment cost, before any secret. */
export function execBaseBytes(argv: string[], inherited: Record<string, string | undefined>, options: { pristine?: boolean } = {}): number {
  let n = 8; // argv's and envp's terminating NULL pointers
  for (const a of argv) n += Buffer.byteLength(a, 'utf8') + 1 + 8;
  const keep = options.pristine ? PRISTINE_VARIABLES : Object.keys(inherited);
  for (const key of keep) {
    const value = inherited[key];
    if (value !== undefined && !UNLOCK_VARIABLES.includes(key)) n += execStringBytes(Buffer.byteLength(key, 'utf8'), Buffer.byteLength(value, 'utf8'));
  }
  return n;
}
