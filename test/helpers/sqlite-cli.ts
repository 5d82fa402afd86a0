import { spawnSync } from 'node:child_process';
import type { AuditRow } from '../../src/audit/log.js';

/**
 * The `sqlite3` command-line shell: the "outside tool" that tampers with a vault file in
 * tests (scripts/setup.sh installs it). Throws with sqlite3's stderr when a statement fails.
 */
export function sqlite(path: string, ...args: string[]): string {
  const r = spawnSync('sqlite3', ['-bail', path, ...args], { encoding: 'utf8' });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`sqlite3 failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** Rows of a query, through `sqlite3 -json`. */
export function sqliteJson<T = Record<string, unknown>>(path: string, query: string): T[] {
  const out = sqlite(path, '-json', query).trim();
  return out === '' ? [] : (JSON.parse(out) as T[]);
}

/** An audit row as `sqlite3 -json` gives it: the MAC as hex, null for an unsealed entry. */
export type RawAuditRow = Omit<AuditRow, 'mac'> & { mac: string | null };

export function auditRows(path: string): RawAuditRow[] {
  return sqliteJson<RawAuditRow>(
    path,
    'SELECT seq, at, op, ns, name, version, outcome, actor_user, actor_pid, actor_parent, detail, lower(hex(mac)) AS mac FROM audit ORDER BY seq',
  ).map((r) => ({ ...r, mac: r.mac === '' ? null : r.mac }));
}

/** The whole database as SQL text: equal dumps mean nothing changed. */
export function dump(path: string): string {
  return sqlite(path, '.dump');
}
