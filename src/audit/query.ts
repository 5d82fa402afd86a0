import { expandNames } from './detail.js';
import type { AuditRow } from './log.js';

/** Which entries `vault audit` shows; every field narrows the selection. */
export interface AuditFilter {
  ns?: string;
  name?: string;
  /** any of these operations */
  ops?: string[];
  /** entries at or after this time (epoch ms) */
  since?: number;
  /** the K most recent matching entries (still returned oldest first) */
  limit?: number;
  /** entries about one agent grant (grant-add, grant-rm and the mcp calls under it) */
  grant?: string;
}

/** One entry as readers see it. Holds no value: the log never stores one. */
export interface AuditRecord {
  seq: number;
  /** epoch milliseconds */
  at: number;
  op: string;
  ns: string | null;
  name: string | null;
  version: number | null;
  outcome: string;
  actor: { user: string; pid: number; parent: string };
  /** the structured detail, or null; a stored detail that is not a JSON object is returned as text */
  detail: Record<string, unknown> | string | null;
  /** false for a failed unlock recorded while locked and not sealed into the chain yet */
  sealed: boolean;
}

function parseDetail(text: string | null): Record<string, unknown> | string | null {
  if (text === null) return null;
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? expandNames(value as Record<string, unknown>) : text;
  } catch {
    return text;
  }
}

/** Entries that name their secrets in detail.names rather than in the name column. */
export const BULK_OPS = ['exec', 'env', 'export', 'inject', 'import'];

/**
 * The part of a name filter SQL cannot do: a bulk entry matches when its expanded name list
 * includes the name (the list may be deflated). With a name, the limit applies here, after it.
 * Shared by both stores (the PostgreSQL store selects the same candidate rows).
 */
export function filterExpanded(records: AuditRecord[], filter: AuditFilter): AuditRecord[] {
  if (filter.name === undefined) return records;
  const name = filter.name;
  const out = records.filter((r) => r.name === name || (typeof r.detail === 'object' && r.detail !== null && Array.isArray(r.detail.names) && r.detail.names.includes(name)));
  return filter.limit !== undefined ? (filter.limit > 0 ? out.slice(-filter.limit) : []) : out;
}

/** A stored row as readers see it. */
export function toRecord(r: AuditRow): AuditRecord {
  return {
    seq: r.seq,
    at: r.at,
    op: r.op,
    ns: r.ns,
    name: r.name,
    version: r.version,
    outcome: r.outcome,
    actor: { user: r.actor_user, pid: r.actor_pid, parent: r.actor_parent },
    detail: parseDetail(r.detail),
    sealed: r.mac !== null,
  };
}
