import { anchorDir } from '../store/anchor.js';
import { unlockVault, type UnlockMethod, type UnlockSources } from '../unlock/sources.js';
import type { PassphraseKdfPolicy } from '../crypto/kdf.js';
import { Vault } from './vault.js';

/**
 * The one composition root: the CLI (src/cli/session.ts) and the library (src/index.ts) open
 * and unlock a vault through these two functions, so the same question gets the same answer
 * from both (the same file checks, the same rollback anchor, the same unlock order, the same
 * refusal and the same audit entry for, say, a master key on a vault without a master-key slot).
 */

export interface OpenRequest {
  path: string;
  /** the environment the anchor directory is taken from (XDG_STATE_HOME, HOME) */
  env: NodeJS.ProcessEnv;
  insecurePermissions?: boolean;
  /** accept a vault older than its rollback anchor, audited (vault accept-restore) */
  acceptRestore?: boolean;
  /** VaultContext.passphraseKdf (a library caller's choice; the CLI binary never sets it) */
  passphraseKdf?: Partial<PassphraseKdfPolicy>;
}

/** Opens the vault, locked. */
export function openLocked(req: OpenRequest): Vault {
  return Vault.open(req.path, {
    insecurePermissions: req.insecurePermissions === true,
    anchorDir: anchorDir(req.env),
    acceptRestore: req.acceptRestore === true,
    passphraseKdf: req.passphraseKdf,
  });
}

/** Unlocks by the order of SPEC §4 from whatever sources the front door has. */
export function unlock(vault: Vault, sources: UnlockSources): Promise<UnlockMethod> {
  return unlockVault(vault, sources);
}
