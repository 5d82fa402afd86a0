import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { checkGrantName, listGrants, noGrant } from '../../core/grants.js';
import { checkNamespace } from '../../core/names.js';
import type { IO } from '../io.js';
import { Session } from '../session.js';

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0';
  }
}

export function register(program: Command, io: IO): void {
  program
    .command('mcp')
    .description('an MCP server on stdio for an AI agent: it uses the grant\'s secrets without seeing them')
    .requiredOption('--grant <name>', 'the grant (vault grant add) that says what the agent may use')
    .addHelpText('after', '\nUnlocks as every command does (master key, keychain, session) but never prompts: stdin is the protocol.\nvault audit --grant NAME shows every call.')
    .action(async (flags: { grant: string }, cmd: Command) => {
      const s = new Session(io, cmd);
      // stdin carries the protocol: never a passphrase prompt
      s.opts.input = false;
      const name = checkGrantName(flags.grant);
      const ns = checkNamespace(s.opts.ns ?? (s.env.VAULT_NS || 'default'));
      await s.withVault(false, async (vault) => {
        if (vault.grantRow(name) === undefined) throw noGrant(name);
        await s.unlock(vault);
        // verified under the key: an edited grant stops the server here (integrity, 7)
        const grant = listGrants(vault).find((g) => g.name === name);
        if (!grant) throw noGrant(name);
        const { serve } = await import('../../mcp/server.js');
        s.info(`vault mcp: serving grant ${name} on stdio`);
        await serve({ vault, grant, env: io.env, ns, version: version(), stdin: io.stdin, stdout: io.stdout, log: (line) => io.stderr.write(`${line}\n`) });
      });
    });
}
