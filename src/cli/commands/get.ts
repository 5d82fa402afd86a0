import type { Command } from 'commander';
import { VaultError } from '../../core/errors.js';
import { parseVersion } from '../../core/names.js';
import { isoTime } from '../../core/time.js';
import type { IO } from '../io.js';
import { Session } from '../session.js';
import { notFound } from '../../core/vault.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A value for JSON: UTF-8 text when it is valid UTF-8, else base64, saying which. */
export function jsonValue(value: Buffer): { value: string; encoding: 'utf8' | 'base64' } {
  try {
    return { value: utf8.decode(value), encoding: 'utf8' };
  } catch {
    return { value: value.toString('base64'), encoding: 'base64' };
  }
}

export function register(program: Command, io: IO): void {
  program
    .command('get')
    .description('print a secret value: exact bytes, newline only on a terminal')
    .argument('<name>', 'NAME, NS/NAME or vault://NS/NAME[@VERSION]')
    .option('--version <n>', 'an older version', parseVersion)
    .option('-n, --no-newline', 'never add a newline')
    .option('--allow-expired', 'return the value even when it has expired')
    .action(async (name: string, flags: { version?: number; newline: boolean; allowExpired?: boolean }, cmd: Command) => {
      const s = new Session(io, cmd);
      const given = s.versionedRef(name);
      if (given.version !== undefined && flags.version !== undefined && given.version !== flags.version) {
        throw new VaultError('usage', `--version ${flags.version} contradicts @${given.version} in ${JSON.stringify(name)}`);
      }
      const ref = { ns: given.ns, name: given.name };
      const version = flags.version ?? given.version;
      await s.withVault(false, async (vault) => {
        // A misspelt name fails before anyone is asked for a passphrase.
        if (!vault.findSecret(ref, false)) throw notFound(ref);
        await s.unlock(vault);
        const secret = vault.get(ref, { ...(version !== undefined ? { version } : {}), allowExpired: flags.allowExpired === true });
        try {
          if (s.json) {
            s.outJson({ ns: secret.ns, name: secret.name, version: secret.version, ...jsonValue(secret.value), expires: isoTime(secret.expiresAt) });
          } else {
            // Writes complete in order: once the last one has, the value may be wiped.
            if (flags.newline && s.stdoutIsTTY) {
              s.out(secret.value);
              await s.outFlushed('\n');
            } else {
              await s.outFlushed(secret.value);
            }
          }
        } finally {
          secret.value.fill(0);
        }
      });
    });
}
