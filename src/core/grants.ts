import { randomBytes } from 'node:crypto';
import { wipe } from '../crypto/aead.js';
import type { GrantRow } from '../store/grants.js';
import type { SecretRow } from '../store/secrets.js';
import { VaultError } from './errors.js';
import { checkName, formatRef, parseSecretRef, type SecretRef } from './names.js';
import { Unrecorded, type Vault } from './vault.js';

/**
 * Grants: what one agent may use through `vault mcp` (docs/security.md, "Grants"). A grant
 * names secrets (explicit names, and/or a namespace with an optional name prefix), the hosts
 * http_request may send them to, the programs run_command may run, a lifetime, a number of
 * uses, a rate, and whether get_secret exists at all. Its row is MACed under the data key,
 * uses included, and joins the state digest (src/core/integrity.ts).
 *
 * A use is counted, and the grant's uses, last use and rate window rewritten, in the same
 * transaction as the audit entry that releases a value; a refusal changes nothing but the log.
 */

const GRANT_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const HOST_RE = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::[1-9][0-9]{0,4})?$/;
const PROGRAM_RE = /^[^\s,\0]{1,255}$/;
/** the reason an agent gives is kept in the audit entry, cut to this many characters */
export const MAX_REASON = 300;
export const RATE_WINDOW_MS = 60_000;

export interface GrantSpec {
  name: string;
  secrets: SecretRef[];
  ns: string | null;
  prefix: string | null;
  hosts: string[];
  /** null: any program */
  commands: string[] | null;
  expiresAt: number | null;
  maxUses: number | null;
  /** uses per minute */
  rate: number | null;
  reveal: boolean;
}

export interface Grant extends GrantSpec {
  createdAt: number;
  uses: number;
  lastUsedAt: number | null;
}

export type GrantState = 'active' | 'expired' | 'used-up';

export function checkGrantName(name: string): string {
  if (!GRANT_NAME_RE.test(name)) {
    throw new VaultError('usage', `invalid grant name ${JSON.stringify(name)}`, {
      hint: 'a grant name is 1-64 characters of letters, digits, ".", "_" or "-", starting with a letter or digit',
    });
  }
  return name;
}

/** `a.example.com,127.0.0.1:8443` → lower-case host names, each optionally with a port. */
export function parseHosts(text: string): string[] {
  const hosts = text.split(',').map((h) => h.trim().toLowerCase());
  for (const h of hosts) {
    if (!HOST_RE.test(h)) throw new VaultError('usage', `invalid host ${JSON.stringify(h)} for --hosts`, { hint: 'a host name or IP address, optionally with :PORT, no scheme or path: api.example.com,127.0.0.1:8443' });
  }
  return [...new Set(hosts)];
}

/** `curl,npm` → program names, each compared exactly with the command's argv[0]. */
export function parseCommands(text: string): string[] {
  const programs = text.split(',').map((c) => c.trim());
  for (const c of programs) {
    if (!PROGRAM_RE.test(c)) throw new VaultError('usage', `invalid program ${JSON.stringify(c)} for --commands`, { hint: 'program names as run_command will be given them (argv[0]), comma-separated: curl,npm' });
  }
  return [...new Set(programs)];
}

/** `N/min` → N. */
export function parseRate(text: string): number {
  const m = /^([1-9][0-9]{0,5})\/min$/.exec(text);
  if (!m) throw new VaultError('usage', `invalid --rate ${JSON.stringify(text)}`, { hint: 'uses per minute, as N/min: 10/min' });
  return Number(m[1]);
}

export function parseMaxUses(text: string): number {
  if (!/^[1-9][0-9]{0,8}$/.test(text)) throw new VaultError('usage', `invalid --max-uses ${JSON.stringify(text)}`, { hint: 'a whole number of uses, 1 or more' });
  return Number(text);
}

/** `A,prod/B` → refs (bare names in `defaultNs`), without duplicates. */
export function parseSecretList(text: string, defaultNs: string): SecretRef[] {
  const refs = text.split(',').map((n) => parseSecretRef(n.trim(), defaultNs));
  const seen = new Set<string>();
  return refs.filter((r) => !seen.has(formatRef(r)) && seen.add(formatRef(r)));
}

export function checkSpec(spec: GrantSpec): GrantSpec {
  checkGrantName(spec.name);
  if (spec.secrets.length === 0 && spec.ns === null) throw new VaultError('usage', 'a grant needs --secrets, --prefix or --ns', { hint: 'vault grant add NAME --secrets API_KEY --hosts api.example.com' });
  return spec;
}

function toGrant(row: GrantRow): Grant {
  return {
    name: row.name,
    secrets: (JSON.parse(row.secrets) as string[]).map((s) => parseSecretRef(s, 'default')),
    ns: row.ns,
    prefix: row.prefix,
    hosts: JSON.parse(row.hosts) as string[],
    commands: row.commands === null ? null : (JSON.parse(row.commands) as string[]),
    expiresAt: row.expires_at,
    maxUses: row.max_uses,
    rate: row.rate,
    reveal: row.reveal === 1,
    createdAt: row.created_at,
    uses: row.uses,
    lastUsedAt: row.last_used_at,
  };
}

export function grantState(g: Pick<Grant, 'expiresAt' | 'maxUses' | 'uses'>, now: number): GrantState {
  if (g.expiresAt !== null && g.expiresAt <= now) return 'expired';
  if (g.maxUses !== null && g.uses >= g.maxUses) return 'used-up';
  return 'active';
}

/** Whether `ref` is one of the grant's secrets (whether or not it exists). */
export function covers(g: Pick<Grant, 'secrets' | 'ns' | 'prefix'>, ref: SecretRef): boolean {
  if (g.secrets.some((s) => s.ns === ref.ns && s.name === ref.name)) return true;
  return g.ns !== null && ref.ns === g.ns && ref.name.startsWith(g.prefix ?? '');
}

function grantDetail(spec: GrantSpec): Record<string, unknown> {
  return {
    grant: spec.name,
    secrets: spec.secrets.map(formatRef),
    ns: spec.ns,
    prefix: spec.prefix,
    hosts: spec.hosts,
    commands: spec.commands,
    expires: spec.expiresAt === null ? null : new Date(spec.expiresAt).toISOString(),
    maxUses: spec.maxUses,
    rate: spec.rate,
    reveal: spec.reveal,
  };
}

export function grantExists(vault: Vault, name: string): boolean {
  return vault.grantRow(name) !== undefined;
}

/** `vault grant add`: one audited transaction; an existing name is refused (exists). */
export function addGrant(vault: Vault, spec: GrantSpec): Grant {
  checkSpec(spec);
  return vault.audited({ op: 'grant-add', detail: grantDetail(spec) }, () => {
    if (vault.grantRow(spec.name)) throw new Unrecorded(new VaultError('exists', `grant ${spec.name} already exists`, { hint: `remove it first with vault grant rm ${spec.name}` }));
    const now = vault.time();
    const row: Omit<GrantRow, 'mac'> = {
      id: 0,
      name: spec.name,
      uid: randomBytes(16),
      secrets: JSON.stringify(spec.secrets.map(formatRef)),
      ns: spec.ns,
      prefix: spec.ns === null ? null : spec.prefix,
      hosts: JSON.stringify(spec.hosts),
      commands: spec.commands === null ? null : JSON.stringify(spec.commands),
      expires_at: spec.expiresAt,
      max_uses: spec.maxUses,
      rate: spec.rate,
      reveal: spec.reveal ? 1 : 0,
      created_at: now,
      uses: 0,
      last_used_at: null,
      recent: '[]',
    };
    vault.saveGrantRow(row);
    return toGrant({ ...row, mac: Buffer.alloc(0) });
  });
}

/** `vault grant rm`: the row goes; an agent's next call is refused. */
export function removeGrant(vault: Vault, name: string): Grant {
  return vault.audited({ op: 'grant-rm', detail: { grant: name } }, () => {
    const row = vault.grantRow(name);
    if (!row) throw new Unrecorded(noGrant(name));
    vault.deleteGrantRow(row.id);
    return toGrant(row);
  });
}

export function listGrants(vault: Vault): Grant[] {
  return vault.grantRows().map(toGrant);
}

export function noGrant(name: string): VaultError {
  return new VaultError('not-found', `no grant ${name}`, { hint: 'vault grant list shows the grants' });
}

/** The grant's secrets that exist now (current, not removed), by namespace and name. */
function grantedRows(vault: Vault, g: Grant): SecretRow[] {
  const out = new Map<string, SecretRow>();
  for (const ref of g.secrets) {
    const row = vault.findSecret(ref, false);
    if (row) out.set(formatRef(row), row);
  }
  if (g.ns !== null) for (const row of vault.currentSecrets(g.ns)) if (row.name.startsWith(g.prefix ?? '')) out.set(formatRef(row), row);
  return [...out.values()].sort((a, b) => (a.ns === b.ns ? (a.name < b.name ? -1 : 1) : a.ns < b.ns ? -1 : 1));
}

// ---- what vault mcp asks ----------------------------------------------------------------

export interface UseRequest {
  tool: string;
  /** the reason the agent gave */
  reason: string | null;
  /** the secret names the call asked for, as given; null: every granted secret */
  names: string[] | null;
  /** count a use and decrypt the values (run_command, http_request, get_secret) */
  use: boolean;
  /** facts for the audit entry: program, argc, host, method */
  detail?: Record<string, unknown>;
  /** more checks on the grant (a program, a host), inside the transaction: throw a VaultError to refuse */
  check?: (grant: Grant) => void;
}

export interface GrantedSecret {
  ns: string;
  name: string;
  version: number;
  description: string | null;
  updatedAt: number;
  expiresAt: number | null;
  notSecret: boolean;
  /** only when the request is a use; the caller zeroes it */
  value: Buffer | null;
}

export interface Authorized {
  grant: Grant;
  secrets: GrantedSecret[];
  /** each name asked for, as given, to its secret (one of `secrets`) */
  byName: Map<string, GrantedSecret>;
}

/** The one-line refusal an agent sees: the message of a VaultError, or a generic one. */
export function refusalText(e: unknown): string {
  return e instanceof VaultError ? e.message : 'internal error';
}

function cutReason(reason: string | null): string | null {
  if (reason === null) return null;
  return reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON)}…` : reason;
}

/**
 * One MCP tool call under a grant, in one audited transaction: the grant must exist, pass its
 * MAC, not be expired or used up, be under its rate (a use), and cover every name asked for;
 * each secret must exist and not be expired. A use counts one against the grant (uses, last
 * use, rate window), re-MACed, and its values are decrypted. The entry (op `mcp`: grant,
 * tool, secret names, program or host, the agent's reason, and the refusal) commits before
 * anything is returned. Refusals are thrown as VaultError; nothing changes but the log.
 */
export function authorize(vault: Vault, grantName: string, req: UseRequest): Authorized {
  const detail: Record<string, unknown> = { grant: grantName, tool: req.tool, ...req.detail, reason: cutReason(req.reason) };
  if (req.names !== null) detail.secrets = req.names.slice(0, 100);
  const values: Buffer[] = [];
  return vault.audited(
    { op: 'mcp', detail },
    (entry) => {
      try {
        const row = vault.grantRow(grantName);
        if (!row) throw new VaultError('not-found', `grant ${grantName} was removed`);
        const g = toGrant(row);
        const now = vault.time();
        const state = grantState(g, now);
        if (state === 'expired') throw new VaultError('expired', `grant ${grantName} expired at ${new Date(g.expiresAt!).toISOString()}`);
        if (state === 'used-up') throw new VaultError('usage', `grant ${grantName} is used up (${g.uses} of ${g.maxUses} uses)`);
        let recent = (JSON.parse(row.recent) as number[]).filter((t) => t > now - RATE_WINDOW_MS);
        if (req.use && g.rate !== null && recent.length >= g.rate) {
          const wait = Math.max(1, Math.ceil((recent[0]! + RATE_WINDOW_MS - now) / 1000));
          throw new VaultError('usage', `grant ${grantName} is at its rate limit of ${g.rate} uses per minute; try again in ${wait}s`);
        }
        req.check?.(g);
        const granted = grantedRows(vault, g);
        let chosen: SecretRow[];
        const asked = new Map<string, SecretRow>();
        if (req.names === null) {
          chosen = granted;
        } else {
          chosen = [];
          for (const name of req.names) {
            const row2 = resolveName(g, granted, grantName, name);
            asked.set(name, row2);
            if (!chosen.includes(row2)) chosen.push(row2);
          }
        }
        detail.secrets = chosen.map(formatRef);
        entry.detail = detail;
        const out: GrantedSecret[] = [];
        for (const s of chosen) {
          const version = vault.findVersion(s.id, s.current_version);
          if (!version) throw new VaultError('integrity', `secret ${formatRef(s)} failed its integrity check`);
          if (req.use && version.expires_at !== null && version.expires_at <= now) {
            throw new VaultError('expired', `secret ${formatRef(s)} expired at ${new Date(version.expires_at).toISOString()}`);
          }
          let value: Buffer | null = null;
          if (req.use) {
            value = vault.openVersion(s, version);
            if (!value) throw new VaultError('integrity', `secret ${formatRef(s)} version ${version.version} failed its integrity check`);
            values.push(value);
          }
          out.push({ ns: s.ns, name: s.name, version: s.current_version, description: s.description, updatedAt: s.updated_at, expiresAt: s.expires_at, notSecret: s.not_secret === 1, value });
        }
        if (req.use) {
          recent = g.rate === null ? [] : [...recent, now];
          vault.saveGrantRow({ ...row, uses: row.uses + 1, last_used_at: now, recent: JSON.stringify(recent) });
          g.uses = row.uses + 1;
          g.lastUsedAt = now;
        }
        const byName = new Map<string, GrantedSecret>();
        for (const [name, row2] of asked) byName.set(name, out[chosen.indexOf(row2)]!);
        return { grant: g, secrets: out, byName };
      } catch (e) {
        wipe(...values);
        values.length = 0;
        if (e instanceof VaultError) entry.detail = { ...detail, refused: e.message };
        throw e;
      }
    },
    (out) => wipe(...out.secrets.map((s) => s.value)),
  );
}

function resolveName(g: Grant, granted: SecretRow[], grantName: string, asked: string): SecretRow {
  if (typeof asked !== 'string') throw new VaultError('usage', 'a secret name must be a string');
  const slash = asked.indexOf('/');
  if (slash !== -1) {
    const ref = parseSecretRef(asked, 'default');
    if (!covers(g, ref)) throw new VaultError('usage', `secret ${formatRef(ref)} is not granted to ${grantName}`);
    const row = granted.find((r) => r.ns === ref.ns && r.name === ref.name);
    if (!row) throw new VaultError('not-found', `no secret ${formatRef(ref)}`);
    return row;
  }
  checkName(asked);
  const rows = granted.filter((r) => r.name === asked);
  if (rows.length > 1) throw new VaultError('usage', `${asked} names several granted secrets (${rows.map(formatRef).join(', ')}); give NS/NAME`);
  if (rows.length === 1) return rows[0]!;
  const named = g.secrets.some((s) => s.name === asked) || (g.ns !== null && asked.startsWith(g.prefix ?? ''));
  if (named) throw new VaultError('not-found', `no secret ${asked}`);
  throw new VaultError('usage', `secret ${asked} is not granted to ${grantName}`);
}

/**
 * Records a call refused before it reached the grant (malformed arguments, an unknown tool):
 * every call leaves an entry. Best effort: a vault that cannot be written is reported by the
 * next call that needs it.
 */
export function recordRefusal(vault: Vault, grantName: string, tool: string, reason: string | null, why: string): void {
  try {
    vault.audited({ op: 'mcp', detail: { grant: grantName, tool: tool.slice(0, 100), reason: cutReason(reason), refused: why } }, () => {
      throw new VaultError('usage', why);
    });
  } catch {
    // the refusal itself is what the caller reports
  }
}
