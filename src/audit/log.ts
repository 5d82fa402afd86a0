import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Database, Statement } from 'better-sqlite3';
import { encodeAad } from '../crypto/aead.js';
import type { Actor } from './actor.js';

/**
 * The audit chain (SPEC §10). Each entry's MAC is HMAC-SHA256, under the vault's audit key,
 * of the entry's canonical encoding followed by the previous entry's MAC; the first entry
 * follows 32 zero bytes. The audit key is random, kept sealed under the data key, and
 * re-sealed (not replaced) by `rotate --master`, so the chain verifies across rotations.
 * Values never enter an entry.
 *
 * Two rows of `meta` support the chain:
 *  - `audit_head`: the last sealed entry's seq and MAC, with a tag under the audit key. It
 *    makes deleting entries from the END of the log detectable (a chain alone cannot tell a
 *    truncated log from a short one), and it gives every later append a floor for its seq.
 *  - `audit_next_seq`: the next seq, bumped by every append, sealed or pending. It carries no
 *    MAC (failed unlocks are written without a key), so it only catches deletions done
 *    without also lowering it; see docs/readme/audit.md.
 * A seq is never reused: an entry deleted from the end leaves a gap that the next sealed
 * entry's MAC (which covers its seq) makes permanent.
 */

/** Every operation an entry may record; `vault audit --op` accepts these. */
export const AUDIT_OPS = [
  'init', 'get', 'put', 'rotate', 'rotate-master', 'rm', 'rollback',
  'exec', 'env', 'export', 'inject', 'import', 'scan',
  'key-add', 'key-rm', 'keychain-enable', 'keychain-disable', 'passwd', 'unlock', 'kdf-upgrade',
  'key-update', 'upgrade', 'accept-restore',
  'mv',
  'grant-add', 'grant-rm', 'mcp',
  'member-add', 'member-rm',
] as const;

/** An audit key and the first seq it MACs: `rotate --master` starts a new one (docs/security.md). */
export interface AuditKey {
  fromSeq: number;
  key: Buffer;
}

/** The key that MACs entry `seq`: the last one that starts at or before it. */
export function keyFor(keys: ReadonlyArray<AuditKey>, seq: number): Buffer {
  let key = keys[0]!.key;
  for (const k of keys) if (k.fromSeq <= seq) key = k.key;
  return key;
}

export type AuditOp = (typeof AUDIT_OPS)[number];

export type AuditOutcome = 'ok' | 'denied' | 'failed' | 'not-found' | 'expired';

export interface AuditEntry {
  op: AuditOp;
  ns?: string | null;
  name?: string | null;
  version?: number | null;
  outcome: AuditOutcome;
  /**
   * Structured, value-free details, stored as JSON. Shapes in use (docs/readme/audit.md):
   * exec `{ command, argc, names }` (see execDetail), rm `{ purge }`, rollback `{ from }`,
   * init `{ kdf }`, unlock `{ method }`. Never a value, never an argument.
   */
  detail?: Record<string, unknown> | null;
}

export interface AuditRow {
  seq: number;
  at: number;
  op: string;
  ns: string | null;
  name: string | null;
  version: number | null;
  outcome: string;
  actor_user: string;
  actor_pid: number;
  actor_parent: string;
  detail: string | null;
  mac: Buffer | null;
}

export type AuditBody = Omit<AuditRow, 'mac'>;

export const GENESIS_MAC = Buffer.alloc(32);

// Compiling a statement costs more than running it; every `get` appends, so they are kept.
const statements = new WeakMap<Database, Map<string, Statement>>();

function stmt(db: Database, sql: string): Statement {
  let cache = statements.get(db);
  if (!cache) statements.set(db, (cache = new Map()));
  let st = cache.get(sql);
  if (!st) cache.set(sql, (st = db.prepare(sql)));
  return st;
}

export const HEAD_META = 'audit_head';
export const NEXT_SEQ_META = 'audit_next_seq';

export function canonicalEntry(vaultId: string, row: AuditBody): Buffer {
  return encodeAad('vault/audit/v1', [
    vaultId,
    row.seq,
    row.at,
    row.op,
    row.ns ?? '',
    row.name ?? '',
    row.version ?? '',
    row.outcome,
    row.actor_user,
    row.actor_pid,
    row.actor_parent,
    row.detail ?? '',
  ]);
}

export function entryMac(key: Buffer, vaultId: string, row: AuditBody, prevMac: Buffer): Buffer {
  return createHmac('sha256', key).update(canonicalEntry(vaultId, row)).update(prevMac).digest();
}

export function macEquals(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

const FAILED_UNLOCK_DETAILS = new Set(['passphrase', 'master-key', 'keychain', 'session', 'member'].map((method) => JSON.stringify({ method })));

/**
 * A failed unlock is the only kind of entry that may be written without a MAC, and only in
 * exactly the shape recordFailedUnlock writes: anything else in an unsealed row was written by
 * someone else, and sealing it would make it look like ours.
 */
export function isFailedUnlock(row: Pick<AuditRow, 'op' | 'outcome' | 'ns' | 'name' | 'version' | 'detail'>): boolean {
  return (
    row.op === 'unlock' && row.outcome === 'denied' && row.ns === null && row.name === null && row.version === null &&
    row.detail !== null && FAILED_UNLOCK_DETAILS.has(row.detail)
  );
}

// ---- the head record and the seq counter -------------------------------------------------

export interface ChainHead {
  seq: number;
  mac: Buffer;
  tag: Buffer;
}

export function headTag(key: Buffer, vaultId: string, seq: number, mac: Buffer): Buffer {
  return createHmac('sha256', key).update(encodeAad('vault/audit-head/v1', [vaultId, seq, mac])).digest();
}

/** The stored head record: null when absent, 'malformed' when it does not parse. */
export function readHead(db: Database): ChainHead | 'malformed' | null {
  const row = stmt(db, 'SELECT value FROM meta WHERE key = ?').get(HEAD_META) as { value: string } | undefined;
  return parseHead(row?.value);
}

/** The head record's text (meta `audit_head`) parsed: null when absent, 'malformed' when it does not parse. */
export function parseHead(text: string | undefined): ChainHead | 'malformed' | null {
  if (text === undefined) return null;
  const m = /^([1-9][0-9]{0,15}):([0-9a-f]{64}):([0-9a-f]{64})$/.exec(text);
  if (!m) return 'malformed';
  return { seq: Number(m[1]), mac: Buffer.from(m[2]!, 'hex'), tag: Buffer.from(m[3]!, 'hex') };
}

export function headIsAuthentic(key: Buffer, vaultId: string, head: ChainHead): boolean {
  return macEquals(headTag(key, vaultId, head.seq, head.mac), head.tag);
}

function writeMeta(db: Database, key: string, value: string): void {
  stmt(db, 'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
}

/** The stored seq counter, or null when absent or malformed (a vault made before it existed). */
export function readNextSeq(db: Database): number | null {
  const row = stmt(db, 'SELECT value FROM meta WHERE key = ?').get(NEXT_SEQ_META) as { value: string } | undefined;
  return parseNextSeq(row?.value);
}

/** The seq counter's text (meta `audit_next_seq`), or null when absent or malformed. */
export function parseNextSeq(text: string | undefined): number | null {
  return text !== undefined && /^[1-9][0-9]{0,15}$/.test(text) ? Number(text) : null;
}

/** max(last seq + 1, the counter, and the authentic head's seq + 1 when a key is at hand). */
function nextSeq(db: Database, lastSeq: number, head: ChainHead | null): number {
  return Math.max(lastSeq + 1, readNextSeq(db) ?? 0, head ? head.seq + 1 : 0);
}

// ---- appending ---------------------------------------------------------------------------

const INSERT = `INSERT INTO audit (seq, at, op, ns, name, version, outcome, actor_user, actor_pid, actor_parent, detail, mac)
  VALUES (@seq, @at, @op, @ns, @name, @version, @outcome, @actor_user, @actor_pid, @actor_parent, @detail, @mac)`;

// The last row by the INTEGER PRIMARY KEY, and the last sealed row through the partial index
// audit_sealed (migration 2): b-tree seeks (EXPLAIN QUERY PLAN: SEARCH, no SCAN), so an
// append costs the same however long the log is. test/unit/audit-plan.test.ts holds them to it.
export const LAST_ROW = 'SELECT seq, mac FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)';
export const LAST_SEALED = 'SELECT seq, at, mac FROM audit WHERE seq = (SELECT MAX(seq) FROM audit WHERE mac IS NOT NULL)';
export const AFTER = 'SELECT * FROM audit WHERE seq > ? ORDER BY seq';
export const PENDING_COUNT = 'SELECT COUNT(*) AS n FROM audit WHERE mac IS NULL';

export function bodyFor(seq: number, entry: AuditEntry, actor: Actor, now: number): AuditBody {
  return {
    seq,
    at: now,
    op: entry.op,
    ns: entry.ns ?? null,
    name: entry.name ?? null,
    version: entry.version ?? null,
    outcome: entry.outcome,
    actor_user: actor.user,
    actor_pid: actor.pid,
    actor_parent: actor.parent,
    detail: entry.detail ? JSON.stringify(entry.detail) : null,
  };
}

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
