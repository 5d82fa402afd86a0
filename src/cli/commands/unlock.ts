import type { Command } from 'commander';
import { VaultError } from '../../core/errors.js';
import { isoTime, parseDuration } from '../../core/time.js';
import type { IO } from '../io.js';
import { Session } from '../session.js';

interface UnlockFlags {
  for: string;
  idle: string;
}

export const DEFAULT_FOR = '8h';
export const DEFAULT_IDLE = '15m';

export function register(program: Command, io: IO): void {
  program
    .command('unlock')
    .description('unlock once and keep the vault unlocked in a per-user session agent; vault lock ends it')
    .option('--for <duration>', 'end the session after this long, used or not', DEFAULT_FOR)
    .option('--idle <duration>', 'end the session after this long without use', DEFAULT_IDLE)
    .action(async (flags: UnlockFlags, cmd: Command) => {
      const s = new Session(io, cmd);
      if (!s.sessionsAllowed) {
        throw new VaultError('usage', `sessions are turned off (${s.opts.session === false ? '--no-session' : 'VAULT_SESSION'})`, {
          hint: 'unset VAULT_SESSION and drop --no-session to start one',
        });
      }
      const forMs = parseDuration(flags.for);
      const idleMs = parseDuration(flags.idle);
      // Loaded here only: child_process is no business of `vault get`.
      const { endRunning, startAgent, untrustedError } = await import('../../agent/start.js');
      const { ask, locate, sessionPath } = await import('../../agent/client.js');
      // A directory or socket that cannot be trusted is refused before anyone types a passphrase.
      const where = locate(s.env);
      if (where.kind === 'untrusted') throw untrustedError(where.path, where.why);
      await s.withVault(false, async (vault) => {
        // Never from the session itself: renewing a session from its own key would let the
        // absolute timeout be extended without the passphrase or a key.
        const method = await s.unlock(vault, { session: false });
        const realPath = sessionPath(vault.path);
        const previous = await endRunning(s.env);
        const key = vault.dataKeyCopy();
        let pid: number;
        const started = Date.now();
        try {
          pid = await startAgent({ env: s.env, id: vault.id, realPath, forMs, idleMs, key });
        } finally {
          key.fill(0);
        }
        try {
          vault.transact(() => vault.record({ op: 'unlock', outcome: 'ok', detail: { method, session: { forSeconds: forMs / 1000, idleSeconds: idleMs / 1000 } } }));
        } catch (e) {
          // No entry, no session (fail closed, as every audited operation).
          await ask(s.env, 'lock');
          throw e;
        }
        const replaced = previous.kind === 'session' ? previous.path : null;
        if (s.json) {
          s.outJson({ path: realPath, vaultId: vault.id, method, expires: isoTime(started + forMs), idleSeconds: idleMs / 1000, pid, replaced });
          return;
        }
        const before = replaced === null ? '' : replaced === realPath ? '; replaced the running session' : `; ended the session of ${replaced}`;
        s.info(`unlocked ${realPath} for ${flags.for} (locks after ${flags.idle} without use)${before}; vault lock ends it now`);
      });
    });
}
