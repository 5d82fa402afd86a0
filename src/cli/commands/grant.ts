import type { Command } from 'commander';
import { VaultError } from '../../core/errors.js';
import {
  addGrant, checkGrantName, checkSpec, grantExists, grantState, listGrants, noGrant, parseCommands, parseHosts, parseMaxUses, parseRate, parseSecretList, removeGrant,
  type Grant, type GrantSpec,
} from '../../core/grants.js';
import { checkNamespace, formatRef } from '../../core/names.js';
import { isoTime } from '../../core/time.js';
import type { IO } from '../io.js';
import { printable } from '../output.js';
import { dateOnly } from '../render.js';
import { Session } from '../session.js';
import { expiryFrom } from './put.js';

interface AddFlags {
  secrets?: string;
  prefix?: string;
  hosts?: string;
  commands?: string;
  ttl?: string;
  expires?: string;
  maxUses?: string;
  rate?: string;
  reveal?: boolean;
}

/**
 * The flags as a grant; every check before the vault is opened. `--ns NS` (the global flag)
 * is the namespace of bare names; alone, or with --prefix, it also selects that namespace's
 * secrets (all, or those starting with the prefix). --prefix without --ns selects in the
 * namespace of $VAULT_NS (default: `default`).
 */
export function specFrom(name: string, flags: AddFlags, nsFlag: string | undefined, envNs: string, now: number): GrantSpec {
  checkGrantName(name);
  if (flags.prefix === '') throw new VaultError('usage', '--prefix needs at least one character');
  const defaultNs = checkNamespace(nsFlag ?? envNs);
  const selectsNs = flags.prefix !== undefined || (nsFlag !== undefined && flags.secrets === undefined);
  return checkSpec({
    name,
    secrets: flags.secrets !== undefined ? parseSecretList(flags.secrets, defaultNs) : [],
    ns: selectsNs ? defaultNs : null,
    prefix: flags.prefix ?? null,
    hosts: flags.hosts !== undefined ? parseHosts(flags.hosts) : [],
    commands: flags.commands !== undefined ? parseCommands(flags.commands) : null,
    expiresAt: expiryFrom(flags, now),
    maxUses: flags.maxUses !== undefined ? parseMaxUses(flags.maxUses) : null,
    rate: flags.rate !== undefined ? parseRate(flags.rate) : null,
    reveal: flags.reveal === true,
  });
}

function scope(g: Grant): string {
  const parts = g.secrets.map(formatRef);
  if (g.ns !== null) parts.push(`${g.ns}/${g.prefix ?? ''}*`);
  return parts.join(',');
}

export function grantJson(g: Grant, now: number): Record<string, unknown> {
  return {
    name: g.name,
    state: grantState(g, now),
    secrets: g.secrets.map(formatRef),
    ns: g.ns,
    prefix: g.prefix,
    hosts: g.hosts,
    commands: g.commands,
    created: isoTime(g.createdAt),
    expires: isoTime(g.expiresAt),
    maxUses: g.maxUses,
    uses: g.uses,
    lastUsed: isoTime(g.lastUsedAt),
    rate: g.rate === null ? null : `${g.rate}/min`,
    reveal: g.reveal,
  };
}

/** One grant as text: a headline, then one indented line per field; --reveal loudly. */
export function grantText(g: Grant, now: number): string {
  const uses = g.maxUses === null ? `${g.uses}` : `${g.uses}/${g.maxUses}`;
  const lines = [
    `${g.name}  ${grantState(g, now)}  uses ${uses}  last used ${dateOnly(g.lastUsedAt)}  expires ${dateOnly(g.expiresAt)}  rate ${g.rate === null ? 'any' : `${g.rate}/min`}`,
    `  secrets: ${scope(g)}`,
    `  hosts: ${g.hosts.length === 0 ? 'none (no http_request)' : g.hosts.join(',')}`,
    `  commands: ${g.commands === null ? 'any' : g.commands.join(',')}`,
  ];
  if (g.reveal) lines.push('  REVEAL: get_secret gives the agent these VALUES');
  return lines.map(printable).join('\n') + '\n';
}

export function register(program: Command, io: IO): void {
  const grant = program.command('grant').description('grants: what an agent may use through vault mcp (never see, unless --reveal)');

  grant
    .command('add')
    .description('make a grant for one agent')
    .argument('<name>', 'the grant name, given to vault mcp --grant')
    .option('--secrets <names>', 'these secrets, comma-separated (NAME or NS/NAME)')
    .option('--prefix <prefix>', 'every secret whose name starts with this (in --ns, or the namespace)')
    .option('--hosts <hosts>', 'hosts http_request may send them to, comma-separated, exact (none: no HTTP)')
    .option('--commands <programs>', 'programs run_command may run (argv[0], exact), comma-separated (none: any)')
    .option('--ttl <duration>', 'the grant ends after a duration: 45s, 90m, 8h, 30d, 2w')
    .option('--expires <date>', 'the grant ends at an ISO 8601 date or date-time')
    .option('--max-uses <n>', 'at most N uses (a run_command, http_request or get_secret that used secrets)')
    .option('--rate <n/min>', 'at most N uses per minute')
    .option('--reveal', 'add the get_secret tool: the agent can READ these values')
    .addHelpText('after', '\n--ns NS (before or after add): alone, every secret of NS; with --prefix, those of NS starting with it;\nwith --secrets, the namespace of bare names.\nAt least one of --secrets, --prefix, --ns.')
    .action(async (name: string, flags: AddFlags, cmd: Command) => {
      const s = new Session(io, cmd);
      const spec = specFrom(name, flags, s.opts.ns, s.env.VAULT_NS || 'default', Date.now());
      const made = await s.withVault(false, async (vault) => {
        if (grantExists(vault, spec.name)) throw new VaultError('exists', `grant ${spec.name} already exists`, { hint: `remove it first with vault grant rm ${spec.name}` });
        await s.unlock(vault);
        const g = addGrant(vault, spec);
        for (const ref of spec.secrets) if (!vault.findSecret(ref, false)) s.warn(`secret ${formatRef(ref)} does not exist yet`);
        return g;
      });
      if (made.reveal) s.warn(`grant ${made.name} has --reveal: the agent can read the values of its secrets`);
      if (s.json) s.outJson(grantJson(made, Date.now()));
      else s.info(`made grant ${made.name}: use it with vault mcp --grant ${made.name}`);
    });

  grant
    .command('list')
    .description('the grants, their uses, last use, expiry and limits')
    .action(async (_flags: unknown, cmd: Command) => {
      const s = new Session(io, cmd);
      const list = await s.withVault(true, (vault) => listGrants(vault));
      const now = Date.now();
      if (s.json) s.outJson(list.map((g) => grantJson(g, now)));
      else if (list.length === 0) s.info('no grants');
      else s.out(list.map((g) => grantText(g, now)).join(''));
    });

  grant
    .command('rm')
    .description('remove a grant: the agent using it is refused from its next call')
    .argument('<name>', 'the grant name')
    .action(async (name: string, _flags: unknown, cmd: Command) => {
      const s = new Session(io, cmd);
      checkGrantName(name);
      await s.withVault(false, async (vault) => {
        if (!grantExists(vault, name)) throw noGrant(name);
        await s.unlock(vault);
        removeGrant(vault, name);
      });
      if (s.json) s.outJson({ name, removed: true });
      else s.info(`removed grant ${name}`);
    });
}
