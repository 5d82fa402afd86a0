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
