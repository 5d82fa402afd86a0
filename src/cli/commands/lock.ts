import type { Command } from 'commander';
import type { IO } from '../io.js';
import { Session } from '../session.js';

export function register(program: Command, io: IO): void {
  program
    .command('lock')
    .description('end the unlocked session at once: the agent wipes the key and exits')
    .action(async (_flags: unknown, cmd: Command) => {
      const s = new Session(io, cmd);
      const { endRunning } = await import('../../agent/start.js');
      const previous = await endRunning(s.env);
      if (s.json) {
        s.outJson({ locked: previous.kind === 'session', path: previous.kind === 'session' ? previous.path : null });
        return;
      }
      if (previous.kind === 'session') s.info(`locked: ended the session of ${previous.path}`);
      else if (previous.kind === 'stale') s.info('no session was running (removed the socket of an agent that is gone)');
      else s.info('no session is running');
    });
}
