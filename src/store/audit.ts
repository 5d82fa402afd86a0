import type { Database } from 'better-sqlite3';
import type { Actor } from '../audit/actor.js';
import {
  bodyFor,
  entryMac,
  GENESIS_MAC,
  headIsAuthentic,
  headTag,
  HEAD_META,
  isFailedUnlock,
  NEXT_SEQ_META,
  parseHead,
  parseNextSeq,
  type AuditEntry,
  type AuditKey,
  type AuditRow,
  type ChainHead,
} from '../audit/log.js';
import { BULK_OPS, filterExpanded, toRecord, type AuditFilter, type AuditRecord } from '../audit/query.js';
import { verifyRows, type AuditVerification } from '../audit/verify.js';
import { stmt } from './statements.js';

/**
 * The audit chain's rows in a SQLite vault: appending (sealing pending failed unlocks first),
 * the head record and seq counter in `meta`, queries and the verification walk's reads. The
 * chain itself (canonical encoding, MACs, what a failed unlock may look like, how a broken
 * chain is classified) is src/audit/, shared with the PostgreSQL store (src/store/pg/store.ts).
 */

/** The stored head record: null when absent, 'malformed' when it does not parse. */
export function readHead(db: Database): ChainHead | 'malformed' | null {
  const row = stmt(db, 'SELECT value FROM meta WHERE key = ?').get(HEAD_META) as { value: string } | undefined;
  return parseHead(row?.value);
}

function writeMeta(db: Database, key: string, value: string): void {
  stmt(db, 'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
}

/** The stored seq counter, or null when absent or malformed (a vault made before it existed). */
export function readNextSeq(db: Database): number | null {
  const row = stmt(db, 'SELECT value FROM meta WHERE key = ?').get(NEXT_SEQ_META) as { value: string } | undefined;
  return parseNextSeq(row?.value);
}

/** max(last seq + 1, the counter, and the authentic head's seq + 1 when a key is at hand). */
function nextSeq(db: Database, lastSeq: number, head: ChainHead | null): number {
  return Math.max(lastSeq + 1, readNextSeq(db) ?? 0, head ? head.seq + 1 : 0);
}

const INSERT = `INSERT INTO audit (seq, at, op, ns, name, version, outcome, actor_user, actor_pid, actor_parent, detail, mac)
  VALUES (@seq, @at, @op, @ns, @name, @version, @outcome, @actor_user, @actor_pid, @actor_parent, @detail, @mac)`;

// The last row by the INTEGER PRIMARY KEY, and the last sealed row through the partial index
// audit_sealed (migration 2): b-tree seeks (EXPLAIN QUERY PLAN: SEARCH, no SCAN), so an
// append costs the same however long the log is. test/unit/audit-plan.test.ts holds them to it.
export const LAST_ROW = 'SELECT seq, mac FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)';
export const LAST_SEALED = 'SELECT seq, at, mac FROM audit WHERE seq = (SELECT MAX(seq) FROM audit WHERE mac IS NOT NULL)';
export const AFTER = 'SELECT * FROM audit WHERE seq > ? ORDER BY seq';
export const PENDING_COUNT = 'SELECT COUNT(*) AS n FROM audit WHERE mac IS NULL';

/**
 * Appends one chained entry; first seals, in seq order, the failed unlocks recorded since the
 * last sealed entry (so deleting them afterwards breaks the chain). Call it inside the write
 * transaction of the change it records (or, for a read, before the value is released): if it
 * throws, the operation must fail. A pending row that is not a failed unlock is never sealed:
 * it was not written by vault, and `verify` reports it as inserted.
 */
export function appendAudit(db: Database, key: Buffer, vaultId: string, entry: AuditEntry, actor: Actor, now: number): { seq: number } {
  const last = stmt(db, LAST_ROW).get() as { seq: number; mac: Buffer | null } | undefined;
  let prev = last?.mac ?? GENESIS_MAC;
  if (last && last.mac === null) {
    const sealed = stmt(db, LAST_SEALED).get() as { seq: number; at: number; mac: Buffer } | undefined;
    prev = sealed?.mac ?? GENESIS_MAC;
    const update = stmt(db, 'UPDATE audit SET mac = ? WHERE seq = ?');
    // Time never goes backwards through the chain, nor past now: a row claiming otherwise was
    // not written by a failed unlock of ours, and stays unsealed (verify reports it).
    let floor = sealed?.at ?? 0;
    for (const row of stmt(db, AFTER).all(sealed?.seq ?? 0) as AuditRow[]) {
      if (row.mac !== null || !isFailedUnlock(row) || row.at < floor || row.at > now) continue;
      floor = row.at;
      const mac = entryMac(key, vaultId, row, prev);
      update.run(mac, row.seq);
      prev = mac;
    }
  }
  const stored = readHead(db);
  const head = stored && stored !== 'malformed' && headIsAuthentic(key, vaultId, stored) ? stored : null;
  const body = bodyFor(nextSeq(db, last?.seq ?? 0, head), entry, actor, now);
  const mac = entryMac(key, vaultId, body, prev);
  stmt(db, INSERT).run({ ...body, mac });
  writeMeta(db, NEXT_SEQ_META, String(body.seq + 1));
  writeMeta(db, HEAD_META, `${body.seq}:${mac.toString('hex')}:${headTag(key, vaultId, body.seq, mac).toString('hex')}`);
  return { seq: body.seq };
}

/**
 * Records a failed unlock while no key is available: a row with a NULL MAC, in its own
 * transaction, sealed into the chain by the next appendAudit. Only failed unlocks may be
 * written this way (see isFailedUnlock).
 */
export function appendPending(db: Database, entry: AuditEntry & { op: 'unlock'; outcome: 'denied' }, actor: Actor, now: number): { seq: number } {
  return db
    .transaction(() => {
      const last = stmt(db, LAST_ROW).get() as { seq: number } | undefined;
      const body = bodyFor(nextSeq(db, last?.seq ?? 0, null), { ...entry, ns: null, name: null, version: null }, actor, now);
      stmt(db, INSERT).run({ ...body, mac: null });
      writeMeta(db, NEXT_SEQ_META, String(body.seq + 1));
      return { seq: body.seq };
    })
    .immediate();
}

/** The last sealed entry (seq and the first 16 hex digits of its MAC), and the unsealed count. */
export function chainStatus(db: Database): { head: { seq: number; mac: string } | null; pending: number } {
  const head = stmt(db, LAST_SEALED).get() as { seq: number; mac: Buffer } | undefined;
  const pending = (stmt(db, PENDING_COUNT).get() as { n: number }).n;
  return { head: head ? { seq: head.seq, mac: head.mac.toString('hex').slice(0, 16) } : null, pending };
}

/**
 * Re-tags the head record under `key`: rotate --master, after its entry (the last one under
 * the old audit key), hands the head to the new key that every later append uses.
 */
export function retagHead(db: Database, key: Buffer, vaultId: string): void {
  const head = readHead(db);
  if (!head || head === 'malformed') return;
  writeMeta(db, HEAD_META, `${head.seq}:${head.mac.toString('hex')}:${headTag(key, vaultId, head.seq, head.mac).toString('hex')}`);
}

/** Matching entries, oldest first. Reads only; needs no key (entries hold no values). */
export function queryAudit(db: Database, filter: AuditFilter = {}): AuditRecord[] {
  const where: string[] = [];
  const params: Record<string, unknown> = {};
  if (filter.ns !== undefined) {
    where.push('ns = @ns');
    params.ns = filter.ns;
  }
  if (filter.name !== undefined) {
    // The entry of the secret itself, or a bulk read or import whose name list includes it
    // (checked below, on the expanded list).
    where.push(`(name = @name OR (name IS NULL AND op IN (${BULK_OPS.map((op) => `'${op}'`).join(', ')})))`);
    params.name = filter.name;
  }
  if (filter.ops !== undefined && filter.ops.length > 0) {
    where.push(`op IN (${filter.ops.map((_, k) => `@op${k}`).join(', ')})`);
    filter.ops.forEach((op, k) => (params[`op${k}`] = op));
  }
  if (filter.grant !== undefined) {
    // A detail a file writer made malformed is skipped, never an error.
    where.push("(CASE WHEN json_valid(detail) THEN json_extract(detail, '$.grant') END) = @grant");
    params.grant = filter.grant;
  }
  if (filter.since !== undefined) {
    where.push('at >= @since');
    params.since = filter.since;
  }
  const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
  let rows: AuditRow[];
  if (filter.limit !== undefined && filter.name === undefined) {
    params.limit = filter.limit;
    rows = (db.prepare(`SELECT * FROM audit ${clause} ORDER BY seq DESC LIMIT @limit`).all(params) as AuditRow[]).reverse();
  } else {
    rows = db.prepare(`SELECT * FROM audit ${clause} ORDER BY seq`).all(params) as AuditRow[];
  }
  return filterExpanded(rows.map(toRecord), filter);
}

const ALL = 'SELECT * FROM audit ORDER BY seq';

/**
 * Walks and checks the whole chain (src/audit/verify.ts); reads only, in one read transaction (a consistent
 * snapshot while other processes append). Rows are streamed; only a failure loads them all,
 * to classify it.
 */
export function verifyChain(db: Database, keys: ReadonlyArray<AuditKey>, vaultId: string): AuditVerification {
  return db.transaction(() =>
    verifyRows({ rows: () => db.prepare(ALL).iterate() as IterableIterator<AuditRow>, all: () => db.prepare(ALL).all() as AuditRow[], head: readHead(db), counter: readNextSeq(db) }, keys, vaultId),
  )();
}

