import type { Command } from 'commander';
import { ensureIdentity } from '../../core/identity.js';
import { defaultVaultPath } from '../../store/paths.js';
import { isPostgresUrl } from '../../store/store.js';
import type { IO } from '../io.js';
import { Session } from '../session.js';

export function register(program: Command, io: IO): void {
  program
    .command('identity')
    .description('this user\'s public key for team vaults (vault-pub1…), made on first use')
    .action(async (_flags: unknown, cmd: Command) => {
      const s = new Session(io, cmd);
      // The identity lives in the personal vault: the file --vault/VAULT_PATH names, or, when
      // that is a team vault on a server, the local vault at the default path.
      // VAULT_IDENTITY_VAULT, when set, names it (as when a team vault is opened by identity).
      const personal = s.env.VAULT_IDENTITY_VAULT || (isPostgresUrl(s.vaultPath) ? defaultVaultPath({ ...s.env, VAULT_PATH: undefined }) : s.vaultPath);
      const id = await s.withVault(true, (vault) => ensureIdentity(vault), { path: personal });
      if (s.json) {
        s.outJson({ publicKey: id.publicKey, fingerprint: id.fingerprint, created: id.created, vault: personal });
        return;
      }
      if (id.created) s.info(`created an identity in ${personal}`);
      s.out(`${id.publicKey}\n`);
      s.info(`fingerprint: ${id.fingerprint}`);
    });
}
