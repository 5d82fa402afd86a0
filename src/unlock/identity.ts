import { resolve } from 'node:path';
import { isVaultError } from '../core/errors.js';
import { IDENTITY_REF } from '../core/identity.js';
import type { Vault } from '../core/vault.js';
import { wipe } from '../crypto/aead.js';
import { defaultVaultPath } from '../store/paths.js';
import { isPostgresUrl } from '../store/store.js';

/**
 * Opening a team vault as a member (issue 11): the identity's secret is read from the user's
 * personal vault, itself opened and unlocked as every command unlocks a vault (environment,
 * session, keychain, a prompt on a terminal), and opens the member slot whose public key is
 * the identity's. Loaded only for a vault that has member slots.
 */

/**
 * The personal vault that holds this user's identity: $VAULT_IDENTITY_VAULT; else VAULT_PATH
 * when it names a local file other than the team vault (the vault `vault identity` uses);
 * else the default local path.
 */
export function personalVaultPath(env: NodeJS.ProcessEnv, team?: string): string {
  if (env.VAULT_IDENTITY_VAULT) return env.VAULT_IDENTITY_VAULT;
  if (env.VAULT_PATH && !isPostgresUrl(env.VAULT_PATH) && (team === undefined || resolve(env.VAULT_PATH) !== resolve(team))) return env.VAULT_PATH;
  return defaultVaultPath({ ...env, VAULT_PATH: undefined });
}

export interface PersonalVault {
  path: string;
  open: (path: string) => Vault;
  /** unlocks it by the usual order (never by identity again) */
  unlock: (vault: Vault) => Promise<unknown>;
}

/**
 * Unlocks `team` with the identity kept in the personal vault. False when there is nothing to
 * try: the personal vault is the team vault itself, does not exist, or holds no identity.
 * Throws what unlocking the personal vault throws (locked, auth-failed), and auth-failed with
 * how to be added when the identity is not a member. `onOpen` learns the member's name, and
 * whether this was the member's first open (their slot held only the link `member add` made).
 */
export async function unlockWithIdentity(team: Vault, personal: PersonalVault, onOpen?: (member: string, firstOpen: boolean) => void): Promise<boolean> {
  if (isPostgresUrl(personal.path) || resolve(personal.path) === team.path || personal.path === team.path) return false;
  let vault: Vault;
  try {
    vault = personal.open(personal.path);
  } catch (e) {
    if (isVaultError(e, 'not-initialized')) return false;
    throw e;
  }
  try {
    if (vault.id === team.id) return false;
    // Names are readable while locked: no identity here, nothing to unlock for.
    if (!vault.findSecret(IDENTITY_REF, false)) return false;
    await personal.unlock(vault);
    const secret = vault.get(IDENTITY_REF).value;
    try {
      const { member, firstOpen } = await team.unlockWithIdentity(secret);
      onOpen?.(member, firstOpen);
    } finally {
      wipe(secret);
    }
    return true;
  } finally {
    vault.close();
  }
}
