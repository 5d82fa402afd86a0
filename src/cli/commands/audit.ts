import type { Command } from 'commander';
import { AUDIT_OPS } from '../../audit/log.js';
import type { AuditFilter, AuditRecord } from '../../audit/query.js';
import { VaultError } from '../../core/errors.js';
import { checkGrantName } from '../../core/grants.js';
import { checkName, checkNamespace } from '../../core/names.js';
import { parseDuration, parseTimestamp } from '../../core/time.js';
import type { IO } from '../io.js';
import { jsonText, printable } from '../output.js';
import { printTable } from '../render.js';
import { Session } from '../session.js';

interface AuditFlags {
  name?: string;
  op?: string;
  since?: string;
  limit?: number;
  grant?: string;
}

function parseLimit(text: string): number {
  if (!/^[1-9][0-9]{0,8}$/.test(text)) throw new VaultError('usage', `invalid --limit ${JSON.stringify(text)}`, { hint: 'use a whole number of entries, 1 or more' });
  return Number(text);
}

/** `--since`: a duration back from now (`24h`, `7d`) or an ISO 8601 date or date-time. */
export function parseSince(text: string, now: number): number {
  if (/^[0-9]+[smhdw]$/.test(text)) return now - parseDuration(text);
  try {
    return parseTimestamp(text);
  } catch {
    throw new VaultError('usage', `invalid --since ${JSON.stringify(text)}`, {
      hint: 'use a duration such as 24h or 7d, or an ISO 8601 date such as 2027-01-31 or 2027-01-31T12:00:00Z',
    });
  }
}

/** The filter from the flags. --ns filters only when given on the command line ($VAULT_NS does not). */
function filterFrom(flags: AuditFlags, nsFlag: string | undefined, now: number): AuditFilter {
  const filter: AuditFilter = {};
  if (nsFlag !== undefined) filter.ns = checkNamespace(nsFlag);
  if (flags.name !== undefined) {
    const slash = flags.name.indexOf('/');
    if (slash !== -1) {
      const ns = checkNamespace(flags.name.slice(0, slash));
      if (filter.ns !== undefined && filter.ns !== ns) throw new VaultError('usage', `--name ${flags.name} and --ns ${filter.ns} name different namespaces`);
      filter.ns = ns;
    }
    filter.name = checkName(flags.name.slice(slash + 1));
  }
  if (flags.op !== undefined) {
    const ops = flags.op.split(',');
    for (const op of ops) {
      if (!(AUDIT_OPS as readonly string[]).includes(op)) {
        throw new VaultError('usage', `unknown operation ${JSON.stringify(op)} for --op`, { hint: `one or more of: ${AUDIT_OPS.join(', ')}` });
      }
    }
    filter.ops = ops;
  }
  if (flags.since !== undefined) filter.since = parseSince(flags.since, now);
  if (flags.limit !== undefined) filter.limit = flags.limit;
  if (flags.grant !== undefined) filter.grant = checkGrantName(flags.grant);
  return filter;
}

/**
 * The `--json` shape of one entry, one object per line (documented in docs/readme/audit.md):
 * { seq, time, op, ns, name, version, outcome, actor: { user, pid, parent }, detail, sealed }
 */
export function auditJson(r: AuditRecord): Record<string, unknown> {
  return {
    seq: r.seq,
    time: new Date(r.at).toISOString(),
    op: r.op,
    ns: r.ns,
    name: r.name,
    version: r.version,
    outcome: r.outcome,
    actor: { user: r.actor.user, pid: r.actor.pid, parent: r.actor.parent },
    detail: r.detail,
    sealed: r.sealed,
  };
}

/** Stored text is never trusted to lack control characters: a tab or newline would break the line-per-entry format, an ESC the terminal. */
function field(text: string | number | null): string {
  if (text === null || text === '') return '-';
  return printable(String(text));
}

function secretOf(r: AuditRecord): string {
  if (r.name === null) return r.ns ?? '-';
  return `${r.ns ?? ''}/${r.name}`;
}

function detailText(detail: AuditRecord['detail']): string {
  if (detail === null) return '';
  if (typeof detail === 'string') return detail;
  return Object.entries(detail)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`)
    .join(' ');
}

/**
 * In a pipe, one line per entry, tab-separated:
 * seq, time, op, NS/NAME, version, outcome, user, pid, parent, detail (JSON), sealed|unsealed.
 * An empty field is `-`.
 */
export function auditLine(r: AuditRecord): string {
  return [
    String(r.seq),
    new Date(r.at).toISOString(),
    field(r.op),
    field(secretOf(r)),
    field(r.version),
    field(r.outcome),
    field(r.actor.user),
    String(r.actor.pid),
    field(r.actor.parent),
    r.detail === null ? '-' : field(typeof r.detail === 'string' ? r.detail : JSON.stringify(r.detail)),
    r.sealed ? 'sealed' : 'unsealed',
  ].join('\t');
}

function secondsUtc(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + 'Z';
}

export function register(program: Command, io: IO): void {
  const audit = program
    .command('audit')
    .description('read the audit log: who read or changed which secret, and when (no values; works while locked)')
    .option('--name <name>', 'entries for one secret: NAME (any namespace) or NS/NAME')
    .option('--op <op>', 'entries for these operations, comma-separated (get,put,…)')
    .option('--since <time>', 'entries since a duration ago (24h, 7d) or an ISO 8601 date or date-time')
    .option('--limit <k>', 'the K most recent matching entries (printed oldest first)', parseLimit)
    .option('--grant <name>', 'entries about one agent grant: its creation, removal and every vault mcp call under it')
    .addHelpText(
      'after',
      '\n--ns NS keeps one namespace\'s entries ($VAULT_NS does not filter the log).\nvault audit verify checks the whole chain (exit 7 names the first altered entry).',
    )
    .action(async (flags: AuditFlags, cmd: Command) => {
      const s = new Session(io, cmd);
      const filter = filterFrom(flags, s.opts.ns, Date.now());
      const records = await s.withVault(false, (vault) => vault.auditLog(filter));
      if (s.json) {
        s.out(records.map((r) => jsonText(auditJson(r)) + '\n').join(''));
      } else if (s.stdoutIsTTY) {
        if (records.length === 0) {
          s.info('no audit entries match');
          return;
        }
        await printTable(
          s,
          ['SEQ', 'TIME', 'OP', 'SECRET', 'VERSION', 'OUTCOME', 'ACTOR', 'DETAIL'],
          records.map((r) => [
            r.sealed ? String(r.seq) : `${r.seq}*`,
            secondsUtc(r.at),
            r.op,
            secretOf(r),
            r.version === null ? '-' : String(r.version),
            r.outcome,
            `${r.actor.user} ${r.actor.pid}${r.actor.parent ? ` ${r.actor.parent}` : ''}`,
            detailText(r.detail),
          ]),
          { wrap: [3, 6, 7] },
        );
        if (records.some((r) => !r.sealed)) s.info('* a failed unlock recorded while locked; sealed into the chain at the next change');
      } else {
        s.out(records.map((r) => auditLine(r) + '\n').join(''));
      }
    });

  audit
    .command('verify')
    .description('check the whole audit chain; exit 7 names the first entry that was edited, deleted, inserted or reordered')
    .action(async (_flags: unknown, cmd: Command) => {
      const s = new Session(io, cmd);
      const result = await s.withVault(true, (vault) => vault.verifyAudit());
      if (result.failure) {
        const f = result.failure;
        throw new VaultError('integrity', `audit log verification failed at entry #${f.seq}: ${f.kind} (${f.reason})`, {
          hint: 'the vault file was changed outside vault; keep a copy of it for investigation (vault audit lists the entries)',
          details: { entry: f.seq, kind: f.kind },
        });
      }
      const n = result.entries;
      const p = result.pending;
      s.info(
        `audit log verified: ${n} ${n === 1 ? 'entry' : 'entries'}` +
          (p > 0 ? `; ${p} failed unlock${p === 1 ? '' : 's'} recorded while locked, not sealed yet` : ''),
      );
      if (s.json) s.outJson({ ok: true, entries: n, pending: p, head: result.head });
    });
}
