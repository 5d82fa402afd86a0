import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { checkImport, checkImportClashes, importSecrets, type ImportEntry } from '../../core/bulk.js';
import { VaultError, errnoText } from '../../core/errors.js';
import { wipe } from '../../crypto/aead.js';
import { dotenvObject, parseDotenvLines } from '../../exec/dotenv.js';
import { readAll, type IO } from '../io.js';
import { Session } from '../session.js';

/** A .env file bigger than this is surely not one (every value is at most 1 MiB anyway). */
const MAX_IMPORT_BYTES = 64 * 1024 * 1024;

async function readSource(io: IO, file: string): Promise<Buffer> {
  if (file === '-') {
    const data = await readAll(io.stdin, MAX_IMPORT_BYTES);
    if (data === null) throw new VaultError('usage', 'stdin holds more than 64 MiB, which is not a .env file');
    return data;
  }
  try {
    return readFileSync(file);
  } catch (e) {
    throw new VaultError('usage', `cannot read ${file}: ${errnoText(e)}`);
  }
}

export function register(program: Command, io: IO): void {
  program
    .command('import')
    .description('import a .env file (parsed exactly as the dotenv package does) into the namespace')
    .argument('<file>', 'the .env file, or - for stdin')
    .option('--overwrite', 'store new versions of secrets that already exist')
    .option('--not-secret', 'mark every imported value as not secret (PORT, NODE_ENV): masking leaves them alone')
    .action(async (file: string, flags: { overwrite?: boolean; notSecret?: boolean }, cmd: Command) => {
      const s = new Session(io, cmd);
      const ns = s.ns;
      const source = await readSource(io, file);
      const text = source.toString('utf8');
      source.fill(0);
      const label = file === '-' ? 'stdin' : file;
      const parsed = parseDotenvLines(text);
      // dotenv skips lines it cannot read without a word; so does import (same result), but says so.
      for (const { line } of parsed.invalid) s.warn(`${label}:${line}: skipped a line that is not NAME=VALUE`);
      // parseDotenv(text), from the one scan
      const entries: ImportEntry[] = Object.entries(dotenvObject(parsed)).map(([name, value]) => ({ name, value: Buffer.from(value, 'utf8') }));
      try {
        checkImport(entries);
        let result = { created: [] as string[], updated: [] as string[] };
        if (entries.length > 0) {
          result = await s.withVault(false, async (vault) => {
            // Refused before anyone is asked for a passphrase.
            checkImportClashes(vault, ns, entries, flags.overwrite === true);
            await s.unlock(vault);
            return importSecrets(vault, ns, entries, { overwrite: flags.overwrite === true, notSecret: flags.notSecret === true });
          });
        }
        const n = entries.length;
        if (s.json) s.outJson({ ns, imported: n, created: result.created, updated: result.updated });
        else s.info(`imported ${n} ${n === 1 ? 'secret' : 'secrets'} into ${ns}`);
      } finally {
        wipe(...entries.map((e) => e.value));
      }
    });
}
