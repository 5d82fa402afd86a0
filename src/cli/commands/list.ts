import type { Command } from 'commander';
import { isoTime } from '../../core/time.js';
import type { IO } from '../io.js';
import { printable } from '../output.js';
import { dateOnly, printTable } from '../render.js';
import { Session } from '../session.js';

/** One secret in `vault list --json`, keys in this order; `rotationDue` only when set. */
interface ListItem {
  ns: string;
  name: string;
  version: number;
  description: string | null;
  created: string | null;
  updated: string | null;
  expires: string | null;
  expired: boolean;
  notSecret: boolean;
  rotationDue?: true;
}

export function register(program: Command, io: IO): void {
  program
    .command('list')
    .alias('ls')
    .description('list secret names (never values); needs no unlocking')
    .option('--prefix <prefix>', 'only names starting with this')
    .option('--all-ns', 'every namespace')
    .action(async (flags: { prefix?: string; allNs?: boolean }, cmd: Command) => {
      const s = new Session(io, cmd);
      const ns = flags.allNs ? undefined : s.ns;
      const items = s.withVault(false, (vault) => vault.list({ ...(ns !== undefined ? { ns } : {}), ...(flags.prefix !== undefined ? { prefix: flags.prefix } : {}) }));
      const list = await items;
      if (s.json) {
        // Secrets stored together share their times (an import stores 10,000 in a second, each
        // created and updated at once): each run of one time is formatted once.
        // (No expiry, the usual case, leaves the last time formatted in place.)
        let lastMs = NaN;
        let lastIso: string | null = null;
        const iso = (ms: number | null): string | null => {
          if (ms === null) return null;
          if (ms !== lastMs) {
            lastIso = isoTime(ms);
            lastMs = ms;
          }
          return lastIso;
        };
        s.outJsonArray(list, (i) => {
          const item: ListItem = {
            ns: i.ns,
            name: i.name,
            version: i.version,
            description: i.description,
            created: iso(i.createdAt),
            updated: iso(i.updatedAt),
            expires: iso(i.expiresAt),
            expired: i.expired,
            notSecret: i.notSecret,
          };
          if (i.rotationDue) item.rotationDue = true;
          return item;
        });
      } else if (s.stdoutIsTTY) {
        if (list.length === 0) {
          s.info(ns === undefined ? 'no secrets' : `no secrets in namespace ${ns}`);
          return;
        }
        // The ROTATE column only when a member was removed since some value was stored (member rm).
        const due = list.some((i) => i.rotationDue);
        await printTable(
          s,
          ['NAME', 'NAMESPACE', 'VERSION', 'UPDATED', 'EXPIRES', 'MASKED', ...(due ? ['ROTATE'] : []), 'DESCRIPTION'],
          list.map((i) => [
            i.name, i.ns, String(i.version), dateOnly(i.updatedAt), i.expired ? 'expired' : dateOnly(i.expiresAt), i.notSecret ? 'no' : 'yes',
            ...(due ? [i.rotationDue ? 'due' : ''] : []), i.description ?? '',
          ]),
          { wrap: [due ? 7 : 6] },
        );
      } else {
        s.out(list.map((i) => printable(flags.allNs ? `${i.ns}/${i.name}` : i.name) + '\n').join(''));
        const due = list.filter((i) => i.rotationDue).length;
        if (due > 0) s.info(`${due} of these ${due === 1 ? 'is' : 'are'} rotation due (a member was removed): vault list --json marks ${due === 1 ? 'it' : 'them'}, vault rotate NAME clears it`);
      }
    });
}
