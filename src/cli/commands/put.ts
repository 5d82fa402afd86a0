import type { Command } from 'commander';
import { VaultError } from '../../core/errors.js';
import { formatRef } from '../../core/names.js';
import { parseDuration, parseTimestamp } from '../../core/time.js';
import type { IO } from '../io.js';
import { Session } from '../session.js';

interface PutFlags {
  fromFile?: string;
  raw?: boolean;
  force?: boolean;
  ttl?: string;
  expires?: string;
  description?: string;
  notSecret?: boolean;
  multiline?: boolean;
}

/** --ttl / --expires → an absolute expiry, checked before any value is read. */
export function expiryFrom(flags: { ttl?: string; expires?: string }, now: number): number | null {
  if (flags.ttl !== undefined && flags.expires !== undefined) throw new VaultError('usage', '--ttl and --expires cannot be used together');
  if (flags.ttl !== undefined) return now + parseDuration(flags.ttl);
  if (flags.expires !== undefined) {
    const at = parseTimestamp(flags.expires);
    if (at <= now) throw new VaultError('usage', `--expires ${flags.expires} is in the past`);
    return at;
  }
  return null;
}

export function register(program: Command, io: IO): void {
  program
    .command('put')
    .alias('set')
    .description('store a secret read from a hidden prompt, stdin or a file (never from argv)')
    .argument('<name>', 'NAME or NS/NAME')
    .option('--from-file <file>', 'read the value from a file, exact bytes')
    .option('--raw', 'keep a trailing newline read from stdin')
    .option('--force', 'store a new version of an existing secret')
    .option('--ttl <duration>', 'expire after a duration: 45s, 90m, 12h, 30d, 2w')
    .option('--expires <date>', 'expire at an ISO 8601 date or date-time')
    .option('--description <text>', 'a note stored with the secret (not secret)')
    .option('--not-secret', 'a value that need not be hidden (PORT, NODE_ENV): masking leaves it alone; list shows it')
    .option('--multiline', 'at the prompt, take several lines (a PEM key, a certificate) until Ctrl-D')
    .action(async (name: string, flags: PutFlags, cmd: Command) => {
      const s = new Session(io, cmd);
      const ref = s.ref(name);
      const expiresAt = expiryFrom(flags, Date.now());
      await s.withVault(false, async (vault) => {
        // Refuse an existing name before asking for a value nobody will store.
        if (!flags.force && vault.findSecret(ref, false)) {
          throw new VaultError('exists', `secret ${formatRef(ref)} already exists`, { hint: 'use --force to store a new version, or vault rotate' });
        }
        await s.unlock(vault);
        const value = await s.readValue(formatRef(ref), flags);
        try {
          const { version } = vault.put(ref, value, {
            force: flags.force === true,
            expiresAt,
            notSecret: flags.notSecret === true,
            ...(flags.description !== undefined ? { description: flags.description } : {}),
          });
          if (s.json) s.outJson({ ns: ref.ns, name: ref.name, version });
          else s.info(`stored ${formatRef(ref)} version ${version}`);
        } finally {
          value.fill(0);
        }
      });
    });
}
