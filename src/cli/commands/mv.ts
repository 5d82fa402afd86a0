import type { Command } from 'commander';
import { formatRef } from '../../core/names.js';
import { moveClash, notFound } from '../../core/vault.js';
import type { IO } from '../io.js';
import { Session } from '../session.js';

/**
 * `vault mv OLD NEW`: renames a secret, within its namespace or across (`NS/NAME`). Its
 * versions and history go with it. NEW must be a name no secret holds, not even a removed
 * one; there is no --force (a move never destroys a secret).
 */
export function register(program: Command, io: IO): void {
  program
    .command('mv')
    .description('rename a secret (NAME or NS/NAME); its versions and history go with it')
    .argument('<old>', 'NAME or NS/NAME')
    .argument('<new>', 'NAME or NS/NAME; a bare NAME stays in the namespace of OLD')
    .action(async (oldArg: string, newArg: string, _flags: Record<string, never>, cmd: Command) => {
      const s = new Session(io, cmd);
      const from = s.ref(oldArg);
      // `vault mv prod/A B` keeps B in prod: a rename, as mv does in a directory.
      const to = newArg.includes('/') ? s.ref(newArg) : { ns: from.ns, name: s.ref(newArg).name };
      await s.withVault(false, async (vault) => {
        // Refused before unlocking, as put refuses an existing name: the library gives the same answers.
        const clash = moveClash(vault.findSecret(to, true, true), from, to);
        if (clash) throw clash;
        if (!vault.findSecret(from, false)) throw notFound(from);
        await s.unlock(vault);
        const { version } = vault.move(from, to);
        if (s.json) s.outJson({ from: { ns: from.ns, name: from.name }, to: { ns: to.ns, name: to.name }, version });
        else s.info(`moved ${formatRef(from)} to ${formatRef(to)}`);
      });
    });
}
