import type { Command } from 'commander';
import { formatRef, parseVersion } from '../../core/names.js';
import { isoTime } from '../../core/time.js';
import type { IO } from '../io.js';
import { printable } from '../output.js';
import { dateOnly, printTable } from '../render.js';
import { Session } from '../session.js';

export function register(program: Command, io: IO): void {
  program
    .command('history')
    .description('the versions of one secret, with dates; no values')
    .argument('<name>', 'NAME or NS/NAME')
    .action(async (name: string, _flags: unknown, cmd: Command) => {
      const s = new Session(io, cmd);
      const ref = s.ref(name);
      const { removed, versions } = await s.withVault(false, (vault) => vault.history(ref));
      if (s.json) {
        s.outJson({
          ns: ref.ns,
          name: ref.name,
          removed,
          versions: versions.map((v) => ({ version: v.version, created: isoTime(v.createdAt), size: v.size, expires: isoTime(v.expiresAt), origin: v.origin, current: v.current })),
        });
        return;
      }
      if (s.stdoutIsTTY) {
        if (removed) s.info(`${formatRef(ref)} was removed; vault rollback ${formatRef(ref)} VERSION restores it`);
        await printTable(
          s,
          ['VERSION', 'CREATED', 'SIZE', 'EXPIRES', 'ORIGIN', ''],
          versions.map((v) => [String(v.version), dateOnly(v.createdAt), String(v.size), dateOnly(v.expiresAt), v.origin, v.current && !removed ? 'current' : '']),
        );
      } else {
        s.out(versions.map((v) => `${v.version}\t${isoTime(v.createdAt)}\t${printable(v.origin)}${v.current && !removed ? '\tcurrent' : ''}\n`).join(''));
      }
    });

  program
    .command('rollback')
    .description('make a new version equal to an older one')
    .argument('<name>', 'NAME or NS/NAME')
    .argument('<version>', 'the version to restore', parseVersion)
    .action(async (name: string, version: number, _flags: unknown, cmd: Command) => {
      const s = new Session(io, cmd);
      const ref = s.ref(name);
      const result = await s.withVault(true, (vault) => vault.rollback(ref, version));
      if (s.json) s.outJson({ ns: ref.ns, name: ref.name, version: result.version, from: version });
      else s.info(`${formatRef(ref)} version ${result.version} now equals version ${version}`);
    });
}
