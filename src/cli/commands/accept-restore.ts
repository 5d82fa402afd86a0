import type { Command } from 'commander';
import type { IO } from '../io.js';
import { Session } from '../session.js';

/**
 * `vault accept-restore`: a vault file older than the newest state this user has seen is
 * refused as rolled back (exit 7). After restoring a backup on purpose, this unlocks it once
 * with the rollback check turned into an audited acceptance, and moves the anchor to it.
 */
export function register(program: Command, io: IO): void {
  program
    .command('accept-restore')
    .description('accept a vault file restored from a backup (older than the state this user last saw); audited')
    .action(async (_flags: unknown, cmd: Command) => {
      const s = new Session(io, cmd);
      await s.withVault(true, (vault) => {
        const a = vault.accepted;
        if (s.json) {
          s.outJson({ accepted: a !== null, ...(a ? { from: a.from, to: a.to } : {}) });
          return;
        }
        if (!a) s.info('the vault is not older than the state this user last saw; nothing to accept');
        else if (a.from === 'unverifiable') s.info(`accepted the vault at state ${a.to.state} as current (the rollback anchor did not verify); the audit log records it`);
        else s.info(`accepted the vault at state ${a.to.state} as current (this user had seen state ${a.from.state}); the audit log records it`);
      }, { acceptRestore: true });
    });
}
