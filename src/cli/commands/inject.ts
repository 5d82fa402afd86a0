import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { checkExists, readSecrets, type ReadRequest } from '../../core/bulk.js';
import { VaultError, errnoText } from '../../core/errors.js';
import { wipe } from '../../crypto/aead.js';
import { parseTemplate, renderTemplate, writeFileAtomic } from '../../exec/inject.js';
import { readAll, type IO } from '../io.js';
import { projectScope } from '../project.js';
import { Session } from '../session.js';

const MAX_TEMPLATE_BYTES = 64 * 1024 * 1024;

async function readTemplate(io: IO, file: string): Promise<Buffer> {
  if (file === '-') {
    const data = await readAll(io.stdin, MAX_TEMPLATE_BYTES);
    if (data === null) throw new VaultError('usage', 'the template on stdin is larger than 64 MiB');
    return data;
  }
  try {
    return readFileSync(file);
  } catch (e) {
    throw new VaultError('usage', `cannot read template ${file}: ${errnoText(e)}`);
  }
}

export function register(program: Command, io: IO): void {
  program
    .command('inject')
    .description('render {{ vault://NS/NAME }} references in a template; the output file is written 0600')
    .requiredOption('-i, --in <template>', 'the template file, or - for stdin')
    .option('-o, --out <file>', 'write here (atomically, mode 0600) instead of stdout')
    .option('--allow-expired', 'use expired secrets instead of refusing them')
    .action(async (flags: { in: string; out?: string; allowExpired?: boolean }, cmd: Command) => {
      const s = new Session(io, cmd);
      const ns = projectScope(s).ns;
      const template = parseTemplate(await readTemplate(io, flags.in), ns);
      const request: ReadRequest = {
        op: 'inject',
        ns,
        refs: template.refs,
        allowExpired: flags.allowExpired === true,
        detail: { to: flags.out === undefined ? 'stdout' : 'file' },
      };
      // A template without references reads no secret: nothing to unlock or record.
      const output =
        template.refs.length === 0
          ? renderTemplate(template, [])
          : await s.withVault(false, async (vault) => {
              checkExists(vault, request);
              await s.unlock(vault);
              return readSecrets(vault, request, (r) => {
                try {
                  return renderTemplate(template, r.refs.map((x) => x.value));
                } finally {
                  wipe(...r.refs.map((x) => x.value));
                }
              });
            });
      if (flags.out === undefined) {
        io.stdout.write(output, () => output.fill(0));
        return;
      }
      try {
        writeFileAtomic(flags.out, output);
      } catch (e) {
        throw new VaultError('error', `cannot write ${flags.out}: ${errnoText(e)}`, { cause: e });
      } finally {
        output.fill(0);
      }
      if (s.json) s.outJson({ out: flags.out, references: template.refs.length });
      else s.info(`wrote ${flags.out}`);
    });
}
