import type { Command } from 'commander';
import { VaultError } from '../../core/errors.js';
import { formatRef } from '../../core/names.js';
import type { IO } from '../io.js';
import { promptConfirm } from '../prompt.js';
import { Session } from '../session.js';
import { notFound } from '../../core/vault.js';

export function register(program: Command, io: IO): void {
  program
    .command('rm')
    .alias('delete')
    .description('remove a secret; --purge also destroys its old versions')
    .argument('<name>', 'NAME or NS/NAME')
    .option('--purge', 'destroy every stored version (cannot be undone)')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (name: string, flags: { purge?: boolean; yes?: boolean }, cmd: Command) => {
      const s = new Session(io, cmd);
      const ref = s.ref(name);
      await s.withVault(false, async (vault) => {
        const secret = vault.findSecret(ref, true);
        if (!secret || (secret.removed_at !== null && !flags.purge)) {
          throw notFound(ref);
        }
        if (!flags.yes) {
          if (!s.interactive) {
            throw new VaultError('usage', `refusing to remove ${formatRef(ref)} without confirmation`, { hint: 'pass --yes when not in a terminal' });
          }
          const question = flags.purge ? `Destroy ${formatRef(ref)} and all its versions? This cannot be undone.` : `Remove ${formatRef(ref)}?`;
          // Saying no is an answer, not a failure: exit 0.
          if (!(await promptConfirm(io, question))) {
            if (s.json) s.outJson({ ns: ref.ns, name: ref.name, removed: false });
            else s.info('nothing removed');
            return;
          }
        }
        await s.unlock(vault);
        const { versions } = vault.rm(ref, { purge: flags.purge === true });
        if (s.json) s.outJson({ ns: ref.ns, name: ref.name, removed: true, purged: flags.purge === true, versions });
        else s.info(flags.purge ? `destroyed ${formatRef(ref)} (${versions} version${versions === 1 ? '' : 's'})` : `removed ${formatRef(ref)}; its versions are kept until vault rm --purge`);
      });
    });
}
