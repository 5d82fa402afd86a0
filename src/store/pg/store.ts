import { bodyFor, entryMac, GENESIS_MAC, headIsAuthentic, headTag, HEAD_META, isFailedUnlock, NEXT_SEQ_META, parseHead, parseNextSeq, type AuditEntry, type AuditKey, type AuditRow } from '../../audit/log.js';
import { BULK_OPS, filterExpanded, toRecord, type AuditFilter, type AuditRecord } from '../../audit/query.js';
import { verifyRows, type AuditVerification } from '../../audit/verify.js';
import type { Actor } from '../../audit/actor.js';
import { VaultError } from '../../core/errors.js';
import type { GrantRow } from '../grants.js';
import type { ListedRow, SecretRow, VersionRow } from '../secrets.js';
import type { SlotKind, SlotRow } from '../slots.js';
import type { Store } from '../store.js';
import { PgError, SyncPg } from './bridge.js';
import { PG_MIGRATIONS, PG_SCHEMA_VERSION } from './schema.js';
import { parsePgLocation, type PgLocation } from './location.js';
import type { Statement } from './worker.js';

export { parsePgLocation, type PgLocation } from './location.js';

const SLOT_COLUMNS = 'id, kind, label, kdf, kdf_params, salt, nonce, wrapped_key, created_at, last_used_at, public_key, ephemeral_key, key_mac, wrap_format, pending';
const SECRET_COLUMNS = 'id, ns, name, uid, current_version, highest_version, description, created_at, updated_at, removed_at, expires_at, not_secret, rotation_due, mac';
const GRANT_COLUMNS = 'id, name, uid, secrets, ns, prefix, hosts, commands, expires_at, max_uses, rate, reveal, created_at, uses, last_used_at, recent, mac';
const VERSION_COLUMNS = 'secret_id, version, nonce, ciphertext, size, expires_at, origin, created_at';
const AUDIT_COLUMNS = 'seq, at, op, ns, name, version, outcome, actor_user, actor_pid, actor_parent, detail, mac';

/**
 * Rows written in bulk (import, rotate --master, member rm): consecutive statements of one
 * kind are queued as one RowBatch and sent as ONE statement over arrays (unnest), not one
 * statement per row. `single` is the one-row form; `many` takes one array per column.
 */
/** The columns insertSecret writes, in the order of its parameters (a column added later takes its default, or joins here). */
const INSERTED_SECRET_COLUMNS = 'id, ns, name, uid, current_version, highest_version, description, created_at, updated_at, removed_at, expires_at, not_secret, mac, rotation_due';

const ROW_BATCHES = {
  insertSecret: {
    single: `INSERT INTO secrets (${INSERTED_SECRET_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
    many: `INSERT INTO secrets (${INSERTED_SECRET_COLUMNS})
      SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bytea[], $5::int[], $6::int[], $7::text[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::int[], $13::bytea[], $14::int[])`,
  },
  insertVersion: {
    single: `INSERT INTO versions (${VERSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    many: `INSERT INTO versions (${VERSION_COLUMNS}) SELECT * FROM unnest($1::bigint[], $2::int[], $3::bytea[], $4::bytea[], $5::int[], $6::bigint[], $7::text[], $8::bigint[])`,
  },
  updateSecret: {
    single: `UPDATE secrets SET ns = $2, name = $3, uid = $4, current_version = $5, highest_version = $6, description = $7, created_at = $8,
      updated_at = $9, removed_at = $10, expires_at = $11, not_secret = $12, mac = $13, rotation_due = $14 WHERE id = $1`,
    many: `UPDATE secrets s SET ns = u.ns, name = u.name, uid = u.uid, current_version = u.cv, highest_version = u.hv, description = u.d, created_at = u.ca,
      updated_at = u.ua, removed_at = u.ra, expires_at = u.ea, not_secret = u.nsf, mac = u.mac, rotation_due = u.rd
      FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bytea[], $5::int[], $6::int[], $7::text[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::int[], $13::bytea[], $14::int[])
        AS u(id, ns, name, uid, cv, hv, d, ca, ua, ra, ea, nsf, mac, rd)
      WHERE s.id = u.id`,
  },
  setCiphertext: {
    single: 'UPDATE versions SET nonce = $3, ciphertext = $4 WHERE secret_id = $1 AND version = $2',
    many: `UPDATE versions v SET nonce = u.nonce, ciphertext = u.ct FROM unnest($1::bigint[], $2::int[], $3::bytea[], $4::bytea[]) AS u(sid, ver, nonce, ct)
      WHERE v.secret_id = u.sid AND v.version = u.ver`,
  },
} as const;
type BatchKind = keyof typeof ROW_BATCHES;

const CHAIN_SQL = `SELECT (SELECT seq FROM audit WHERE mac IS NOT NULL ORDER BY seq DESC LIMIT 1) AS seq,
  (SELECT mac FROM audit WHERE mac IS NOT NULL ORDER BY seq DESC LIMIT 1) AS mac, (SELECT COUNT(*) FROM audit WHERE mac IS NULL) AS pending`;
const SLOTS_SQL = `SELECT ${SLOT_COLUMNS} FROM slots ORDER BY created_at, id`;
const AUDIT_TOP_SQL = 'SELECT seq, mac FROM audit ORDER BY seq DESC LIMIT 1';
type ChainStatus = { head: { seq: number; mac: string } | null; pending: number };

/** At most this many rows in one batched statement. */
const BATCH_ROWS = 2000;

interface RowBatch {
  batch: BatchKind;
  rows: unknown[][];
  /** each row's key: a row whose key is in the batch already starts a new one (an UPDATE … FROM applies one source row per target) */
  keys: Set<string>;
}
type Queued = Statement | RowBatch;

/**
 * A vault in PostgreSQL (docs/security.md: the server is the "file writer" of the threat
 * model; every row it returns is checked by the core, as a file's are). One connection, owned
 * by a worker thread (bridge.ts). Every write transaction first takes a transaction-level
 * advisory lock of this vault, so writers (and the audit chain's appends) are serialised and
 * each sees the last commit (READ COMMITTED after the lock); reads run in REPEATABLE READ, one
 * snapshot. Statements whose result is not needed inside a transaction are queued and sent
 * with the next one that is, saving a thread hop each.
 */
export class PgStore implements Store {
  readonly kind = 'postgres' as const;
  readonly location: string;
  schemaVersion = PG_SCHEMA_VERSION;
  private readonly pg: SyncPg;
  private depth = 0;
  private savepoints = 0;
  /** how many times the queue was sent (a savepoint knows whether its statements left) */
  private flushes = 0;
  private queued: Queued[] = [];
  /** secret ids taken from the table's identity sequence for rows not inserted yet (insertSecret needs no round trip) */
  private ids: number[] = [];
  private idsTaken = 0;
  /**
   * allVersionKeys() inside a transaction (rotate --master walks every version in key order):
   * the keys, and a window of the rows that follow the last one asked for, read in one query
   * per window instead of one per findVersion.
   */
  private versionKeys: { list: Array<{ secret_id: number; version: number }>; at: Map<string, number> } | null = null;
  private versionRows = new Map<string, VersionRow>();
  /**
   * The key slots (a handful of rows) as read with the open or the current transaction's
   * BEGIN; null after a slot is written or a savepoint rolled back. Between transactions they
   * answer until the next transaction: the unlock reads them there, and checks every slot
   * again inside its read transaction (the state record covers them).
   */
  private slots: SlotRow[] | null = null;
  /**
   * The (ns, name) of the secrets this transaction read or inserted, by id: an updateSecret that
   * keeps a row's name can join a batch (one UPDATE over arrays); one that renames runs alone, in
   * order, since one statement renaming several rows could trip the (ns, name) uniqueness check
   * midway where the same updates one by one would not.
   */
  private names = new Map<number, string>();
  /** grant MACs read with secretMacs() (the state digest wants both), for the grantMacs() call that follows */
  private grantMacList: Array<{ id: number; mac: Buffer | null }> | null = null;
  /** the last audit row (seq, mac) as read with a write transaction's BEGIN and kept by this connection's appends; undefined: unknown */
  private auditTop: { seq: number | null; mac: Buffer | null } | undefined;
  /** the chain status as the last transaction left it, answered between transactions until the next statement (as meta) */
  private idleChain: ChainStatus | null = null;
  private version = -1;
  private open = true;
  /** a store made by create(): the first write checks that no vault was made meanwhile */
  private creating = false;
  /**
   * The meta table as read at the start of the current transaction (or, between transactions,
   * as the last one or the open left it, until the next statement), kept current with this
   * connection's own setMeta and deleteMeta: getMeta answers from it instead of a round trip
   * each. Inside a transaction it is exact: a read transaction is one snapshot, and every
   * writer of meta holds the vault's lock, as a write transaction here does. null: unknown (a
   * savepoint was rolled back, a transaction failed, a newer read was made), getMeta asks the
   * server.
   */
  private meta: Map<string, string> | null = null;

  private constructor(readonly where: PgLocation) {
    this.location = where.display;
    this.pg = new SyncPg(where.display);
    try {
      this.pg.connect(where.connection);
    } catch (e) {
      this.pg.close();
      if (e instanceof PgError) {
        throw new VaultError('error', `cannot connect to the vault server at ${where.display}: ${e.message}`, {
          hint: 'check the user, the password (PGPASSWORD or ~/.pgpass) and the server\'s pg_hba.conf',
        });
      }
      throw e;
    }
  }

  /** An existing vault; not-initialized when the database has none of that name. */
  static open(url: string): PgStore {
    const store = new PgStore(parsePgLocation(url));
    try {
      if (store.openCurrent()) return store;
      const [exists] = store.q(`SELECT to_regclass($1) IS NOT NULL AS ok`, [`"${store.where.schema}".schema_migrations`]);
      if (!exists?.ok) throw store.missing();
      store.migrate();
      if (store.getMeta('vault_id') === undefined) throw store.missing();
      return store;
    } catch (e) {
      store.close();
      throw e;
    }
  }

  /** Whether the vault is there (its tables and its id); a server that cannot be reached is an error. */
  static exists(url: string): boolean {
    try {
      PgStore.open(url).close();
      return true;
    } catch (e) {
      if (e instanceof VaultError && e.code === 'not-initialized') return false;
      throw e;
    }
  }

  /** The tables of a new vault (migrated); `exists` when the vault is there already. */
  static create(url: string): PgStore {
    const store = new PgStore(parsePgLocation(url));
    try {
      store.migrate();
      if (store.getMeta('vault_id') !== undefined) throw store.exists();
      store.creating = true;
      return store;
    } catch (e) {
      store.close();
      throw e;
    }
  }

  /**
   * The usual open in one round trip: the schema as search path, its version and the meta
   * table. True when the vault is there at this binary's schema version; anything else (no
   * schema, no tables, another version, no vault id) is left to the full path in open().
   */
  private openCurrent(): boolean {
    let version: Array<Record<string, unknown>>;
    let meta: Array<Record<string, unknown>>;
    let slots: Array<Record<string, unknown>>;
    try {
      [, version, meta, slots] = this.pg.run([
        { sql: `SET search_path TO "${this.where.schema}"` },
        { sql: 'SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations' },
        { sql: 'SELECT key, value FROM meta' },
        { sql: SLOTS_SQL },
      ]) as [unknown, Array<Record<string, unknown>>, Array<Record<string, unknown>>, Array<Record<string, unknown>>];
    } catch (e) {
      if (e instanceof PgError) return false;
      throw e;
    }
    if (Number(version[0]?.v) !== PG_SCHEMA_VERSION) return false;
    const m = metaMap(meta);
    if (!m.has('vault_id')) return false;
    this.meta = m;
    this.slots = slots as unknown as SlotRow[];
    return true;
  }

  private missing(): VaultError {
    return new VaultError('not-initialized', `no vault at ${this.location}`, { hint: `create one with: vault init --vault '${this.location}'` });
  }

  private exists(): VaultError {
    return new VaultError('exists', `a vault already exists at ${this.location}`, { hint: 'use it, or choose another name with ?vault=NAME' });
  }

  /**
   * Creates the schema or brings it to this binary's version, under the vault's lock (two
   * first runs at once migrate once). A schema newer than this binary is refused, untouched.
   */
  private migrate(): void {
    const schema = `"${this.where.schema}"`;
    const check = (): number => {
      const [row] = this.q(`SELECT to_regclass($1) IS NOT NULL AS ok`, [`${schema}.schema_migrations`]);
      if (!row?.ok) return 0;
      const [v] = this.q(`SELECT COALESCE(MAX(version), 0) AS v FROM ${schema}.schema_migrations`);
      const version = Number(v?.v ?? 0);
      if (version > PG_SCHEMA_VERSION) {
        throw new VaultError('integrity', `the vault at ${this.location} has schema version ${version}, newer than this vault (${PG_SCHEMA_VERSION})`, {
          hint: 'upgrade vault to open this vault',
        });
      }
      return version;
    };
    if (check() === PG_SCHEMA_VERSION) {
      this.q(`SET search_path TO ${schema}`);
      return;
    }
    this.run([{ sql: 'BEGIN' }, this.lockStatement()]);
    try {
      this.run([{ sql: `CREATE SCHEMA IF NOT EXISTS ${schema}` }, { sql: `SET LOCAL search_path TO ${schema}` }, { sql: `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)` }]);
      const from = check();
      for (let v = from; v < PG_SCHEMA_VERSION; v++) {
        this.run([{ sql: PG_MIGRATIONS[v]! }, { sql: 'INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', params: [v + 1, Date.now()] }]);
      }
      this.run([{ sql: 'COMMIT' }]);
    } catch (e) {
      this.rollbackQuietly();
      throw e;
    }
    this.q(`SET search_path TO ${schema}`);
  }

  private lockStatement(): Statement {
    // Two keys: a class for vault's locks, and the vault's schema (one lock per vault).
    return { sql: 'SELECT pg_advisory_xact_lock(7411, hashtext($1))', params: [this.where.schema] };
  }

  get isOpen(): boolean {
    return this.open;
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.pg.close();
  }

  // ---- the wire ---------------------------------------------------------------------------

  private run(statements: Statement[]): Array<Record<string, unknown>>[] {
    try {
      return this.pg.run(statements);
    } catch (e) {
      if (e instanceof PgError) {
        throw new VaultError('error', `the vault server at ${this.location} refused a statement: ${e.message}`, {
          hint: 'nothing was changed; the vault\'s tables may have been altered on the server',
          cause: e,
        });
      }
      throw e;
    }
  }

  /** One statement whose rows are needed now; sends the queued ones first. */
  private q(sql: string, params?: unknown[]): Array<Record<string, unknown>> {
    // Between transactions the meta cache is what the last transaction (or the open) saw: it
    // answers only until this connection reads anything newer, so reads never go back in time.
    if (this.depth === 0) {
      this.meta = null;
      this.idleChain = null;
    }
    const batch = [...this.takeQueued(), { sql, params }];
    this.flushes++;
    const out = this.run(batch);
    return out[out.length - 1]!;
  }

  /** A statement whose result is not needed: queued inside a transaction, else run now (with what is queued). */
  private exec(sql: string, params?: unknown[]): void {
    if (this.depth > 0) this.queued.push({ sql, params });
    else this.q(sql, params);
  }

  /** Statements that open a transaction, after what is queued (a read transaction's COMMIT). */
  private begin(statements: Statement[]): Array<Record<string, unknown>>[] {
    const before = this.takeQueued();
    this.flushes++;
    this.forgetTransaction();
    this.idleChain = null;
    this.slots = null;
    return this.run([...before, ...statements]).slice(before.length);
  }

  /** The queued statements, row batches as statements, and the queue emptied. */
  private takeQueued(): Statement[] {
    const out = this.queued.map((x): Statement => {
      if (!('batch' in x)) return x;
      const { single, many } = ROW_BATCHES[x.batch];
      if (x.rows.length === 1) return { sql: single, params: x.rows[0] };
      return { sql: many, params: x.rows[0]!.map((_v, c) => x.rows.map((r) => r[c])) };
    });
    this.queued = [];
    return out;
  }

  /** A row for a batch: joins the last queued batch of its kind, or starts one (outside a transaction: run now). */
  private queueRow(kind: BatchKind, key: string, row: unknown[]): void {
    if (this.depth === 0) {
      this.q(ROW_BATCHES[kind].single, row);
      return;
    }
    // A new secret may join a batch of secrets queued before the versions batch behind it
    // (import alternates secret, version, secret, …): moving the insert of a secret earlier is
    // always safe, nothing queued can refer to a secret not inserted yet.
    let at = this.queued.length - 1;
    while (kind === 'insertSecret' && at > 0 && isBatch(this.queued[at], 'insertVersion')) at--;
    const last = this.queued[at];
    if (last && 'batch' in last && last.batch === kind && last.rows.length < BATCH_ROWS && !last.keys.has(key)) {
      last.rows.push(row);
      last.keys.add(key);
    } else {
      this.queued.push({ batch: kind, rows: [row], keys: new Set([key]) });
    }
  }

  /** What this store remembers of one transaction's rows, forgotten when the next starts. */
  private forgetTransaction(): void {
    this.ids = [];
    this.idsTaken = 0;
    this.versionKeys = null;
    this.versionRows.clear();
    this.grantMacList = null;
    this.auditTop = undefined;
    this.names.clear();
  }

  private rollbackQuietly(): void {
    this.queued = [];
    this.meta = null;
    this.forgetTransaction();
    try {
      this.pg.run([{ sql: 'ROLLBACK' }]);
    } catch {
      // the connection is gone: the server rolls the transaction back
    }
  }

  // ---- transactions -----------------------------------------------------------------------

  write<T>(fn: () => T): T {
    if (this.depth > 0) return this.savepoint(fn);
    const [, , ver, meta, slots, top] = this.begin([
      { sql: 'BEGIN' },
      this.lockStatement(),
      { sql: 'SELECT n FROM changes' },
      { sql: 'SELECT key, value FROM meta' },
      { sql: SLOTS_SQL },
      { sql: AUDIT_TOP_SQL },
    ]);
    this.version = Number(ver![0]!.n);
    this.meta = metaMap(meta!);
    this.slots = slots as unknown as SlotRow[];
    this.auditTop = top![0] ? { seq: Number(top![0].seq), mac: (top![0].mac as Buffer | null) ?? null } : { seq: null, mac: null };
    this.depth = 1;
    try {
      if (this.creating) {
        if (this.getMeta('vault_id') !== undefined) throw this.exists();
        this.creating = false;
      }
      const out = fn();
      // The chain status goes out after the COMMIT (outside the lock, as a read just after it).
      const batch = [...this.takeQueued(), { sql: 'UPDATE changes SET n = n + 1 RETURNING n' }, { sql: 'COMMIT' }, { sql: CHAIN_SQL }];
      const res = this.run(batch);
      this.version = Number(res[res.length - 3]![0]!.n);
      this.idleChain = chainOf(res[res.length - 1]!);
      return out;
    } catch (e) {
      this.rollbackQuietly();
      throw e;
    } finally {
      this.depth = 0;
      this.forgetTransaction();
    }
  }

  read<T>(fn: () => T): T {
    if (this.depth > 0) return this.savepoint(fn);
    const [, ver, meta, slots, chain] = this.begin([
      { sql: 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' },
      { sql: 'SELECT n FROM changes' },
      { sql: 'SELECT key, value FROM meta' },
      { sql: SLOTS_SQL },
      { sql: CHAIN_SQL },
    ]);
    this.version = Number(ver![0]!.n);
    this.meta = metaMap(meta!);
    this.slots = slots as unknown as SlotRow[];
    this.depth = 1;
    try {
      const out = fn();
      // The snapshot's chain status: what this read saw, for chainStatus() after it.
      this.idleChain = chainOf(chain!);
      // A read-only transaction's COMMIT has nothing to report: it goes out with the next
      // statements (or the server ends the transaction when the connection closes).
      this.queued.push({ sql: 'COMMIT' });
      return out;
    } catch (e) {
      this.rollbackQuietly();
      throw e;
    } finally {
      this.depth = 0;
      this.forgetTransaction();
    }
  }

  savepoint<T>(fn: () => T): T {
    if (this.depth === 0) return this.write(fn);
    const name = `s${++this.savepoints}`;
    const mark = this.queued.length;
    const flushes = this.flushes;
    this.exec(`SAVEPOINT ${name}`);
    this.depth++;
    try {
      const out = fn();
      this.exec(`RELEASE SAVEPOINT ${name}`);
      return out;
    } catch (e) {
      // Writes since the savepoint are undone: read meta and versions from the server again.
      this.meta = null;
      this.versionKeys = null;
      this.versionRows.clear();
      this.slots = null;
      this.grantMacList = null;
      this.auditTop = undefined;
      this.names.clear();
      if (this.flushes === flushes) {
        // Nothing since the savepoint reached the server: drop it all, unsent.
        this.queued.length = mark;
      } else {
        this.queued = [];
        try {
          this.run([{ sql: `ROLLBACK TO SAVEPOINT ${name}` }, { sql: `RELEASE SAVEPOINT ${name}` }]);
        } catch {
          // the connection is gone; the caller's transaction fails with the error below
        }
      }
      throw e;
    } finally {
      this.depth--;
    }
  }

  dataVersion(): number {
    if (this.depth === 0 && this.version === -1) this.version = Number(this.q('SELECT n FROM changes')[0]!.n);
    return this.version;
  }

  scrub(): boolean {
    // Replaced rows stay in the table files until VACUUM, which the server's administrator
    // runs (autovacuum): nothing a client can do here. They are old ciphertexts under the old
    // key, which the server never held (docs/security.md).
    return true;
  }

  relaxedCommits(_on: boolean): void {
    // Durability is the server's (synchronous_commit); a read's audit entry commits as any other.
  }

  // ---- meta -------------------------------------------------------------------------------

  getMeta(key: string): string | undefined {
    if (this.meta) return this.meta.get(key);
    return this.q('SELECT value FROM meta WHERE key = $1', [key])[0]?.value as string | undefined;
  }
  setMeta(key: string, value: string): void {
    this.exec('INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [key, value]);
    this.meta?.set(key, value);
  }
  deleteMeta(key: string): void {
    this.exec('DELETE FROM meta WHERE key = $1', [key]);
    this.meta?.delete(key);
  }

  // ---- key slots --------------------------------------------------------------------------

  allSlots(): SlotRow[] {
    if (this.slots) return this.slots.map((r) => ({ ...r }));
    return this.q(SLOTS_SQL) as unknown as SlotRow[];
  }
  slotsOfKind(kind: SlotKind): SlotRow[] {
    if (this.slots) return this.slots.filter((r) => r.kind === kind).map((r) => ({ ...r }));
    return this.q(`SELECT ${SLOT_COLUMNS} FROM slots WHERE kind = $1 ORDER BY created_at, id`, [kind]) as unknown as SlotRow[];
  }
  slotById(id: string): SlotRow | undefined {
    if (this.slots) {
      const row = this.slots.find((r) => r.id === id);
      return row && { ...row };
    }
    return this.q(`SELECT ${SLOT_COLUMNS} FROM slots WHERE id = $1`, [id])[0] as unknown as SlotRow | undefined;
  }
  hasSlotKind(kind: SlotKind): boolean {
    if (this.slots) return this.slots.some((r) => r.kind === kind);
    return this.q('SELECT 1 FROM slots WHERE kind = $1 LIMIT 1', [kind]).length > 0;
  }
  insertSlot(s: SlotRow): void {
    this.slots = null;
    this.exec(`INSERT INTO slots (${SLOT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`, slotParams(s));
  }
  replaceSlot(s: SlotRow): void {
    this.slots = null;
    this.exec(
      `UPDATE slots SET kind = $2, label = $3, kdf = $4, kdf_params = $5, salt = $6, nonce = $7, wrapped_key = $8, created_at = $9,
         public_key = $10, ephemeral_key = $11, key_mac = $12, wrap_format = $13, pending = $14 WHERE id = $1`,
      [s.id, s.kind, s.label, s.kdf, s.kdf_params, s.salt, s.nonce, s.wrapped_key, s.created_at, s.public_key, s.ephemeral_key, s.key_mac, s.wrap_format, s.pending],
    );
  }
  deleteSlot(id: string): void {
    this.slots = null;
    this.exec('DELETE FROM slots WHERE id = $1', [id]);
  }
  touchSlot(id: string, at: number): void {
    this.slots = null;
    this.exec('UPDATE slots SET last_used_at = $2 WHERE id = $1', [id, at]);
  }

  // ---- secrets and versions ---------------------------------------------------------------

  findSecret(ns: string, name: string): SecretRow | undefined {
    if (this.depth > 0) {
      // Inside a transaction the current version comes along (get reads it next).
      const [r] = this.q(
        `SELECT ${SECRET_COLUMNS.split(', ').map((c) => `s.${c}`).join(', ')},
           v.version AS v_version, v.nonce AS v_nonce, v.ciphertext AS v_ciphertext, v.size AS v_size, v.expires_at AS v_expires_at, v.origin AS v_origin, v.created_at AS v_created_at
         FROM secrets s LEFT JOIN versions v ON v.secret_id = s.id AND v.version = s.current_version WHERE s.ns = $1 AND s.name = $2`,
        [ns, name],
      );
      if (!r) return undefined;
      const { secret, row } = splitJoined(r);
      if (row) this.versionRows.set(`${row.secret_id}:${row.version}`, row);
      this.known([secret]);
      return secret;
    }
    return this.q(`SELECT ${SECRET_COLUMNS} FROM secrets WHERE ns = $1 AND name = $2`, [ns, name])[0] as unknown as SecretRow | undefined;
  }
  allSecrets(): SecretRow[] {
    return this.known(this.q(`SELECT ${SECRET_COLUMNS} FROM secrets ORDER BY id`) as unknown as SecretRow[]);
  }
  secretMacs(): Array<{ id: number; mac: Buffer | null }> {
    if (this.depth === 0) return this.q('SELECT id, mac FROM secrets ORDER BY id') as unknown as Array<{ id: number; mac: Buffer | null }>;
    // The state digest wants the grants' MACs next: both in one round trip.
    const batch = [...this.takeQueued(), { sql: 'SELECT id, mac FROM secrets ORDER BY id' }, { sql: 'SELECT id, mac FROM grants ORDER BY id' }];
    this.flushes++;
    const res = this.run(batch);
    this.grantMacList = res[res.length - 1] as unknown as Array<{ id: number; mac: Buffer | null }>;
    return res[res.length - 2] as unknown as Array<{ id: number; mac: Buffer | null }>;
  }
  currentSecrets(ns: string | null): SecretRow[] {
    return this.q(`SELECT ${SECRET_COLUMNS} FROM secrets WHERE removed_at IS NULL AND ($1::text IS NULL OR ns = $1) ORDER BY ns COLLATE "C", name COLLATE "C"`, [ns]) as unknown as SecretRow[];
  }
  listedSecrets(ns: string | null): ListedRow[] {
    const rows = this.q(
      `SELECT ns, name, current_version, description, created_at, updated_at, expires_at, not_secret, rotation_due FROM secrets
       WHERE removed_at IS NULL AND ($1::text IS NULL OR ns = $1) ORDER BY ns COLLATE "C", name COLLATE "C"`,
      [ns],
    );
    return rows.map((r) => [
      r.name as string, r.current_version as number, r.description as string | null, r.created_at as number, r.updated_at as number,
      r.expires_at as number | null, r.not_secret as number, r.rotation_due as number, ...(ns === null ? [r.ns as string] : []),
    ] as ListedRow);
  }
  currentWithVersions(ns: string): Array<{ secret: SecretRow; row: VersionRow | undefined }> {
    const rows = this.q(
      `SELECT ${SECRET_COLUMNS.split(', ').map((c) => `s.${c}`).join(', ')},
         v.version AS v_version, v.nonce AS v_nonce, v.ciphertext AS v_ciphertext, v.size AS v_size, v.expires_at AS v_expires_at, v.origin AS v_origin, v.created_at AS v_created_at
       FROM secrets s LEFT JOIN versions v ON v.secret_id = s.id AND v.version = s.current_version
       WHERE s.removed_at IS NULL AND s.ns = $1 ORDER BY s.name COLLATE "C"`,
      [ns],
    );
    return rows.map(splitJoined);
  }
  currentNames(ns: string): string[] {
    return this.q('SELECT name FROM secrets WHERE removed_at IS NULL AND ns = $1 ORDER BY name COLLATE "C"', [ns]).map((r) => r.name as string);
  }
  secretsOfNamespace(ns: string): Map<string, SecretRow> {
    const rows = this.known(this.q(`SELECT ${SECRET_COLUMNS} FROM secrets WHERE ns = $1`, [ns]) as unknown as SecretRow[]);
    return new Map(rows.map((r) => [r.name, r]));
  }
  insertSecret(r: Omit<SecretRow, 'id'>): number {
    if (this.depth > 0) {
      // The id from the identity sequence, taken ahead in growing blocks (1, 4, 16, … per
      // transaction): an import inserts its rows in batches, not one round trip each.
      if (this.ids.length === 0) {
        const n = Math.min(4 ** this.idsTaken++, 4096);
        this.ids = this.q(`SELECT nextval(pg_get_serial_sequence('secrets', 'id')) AS id FROM generate_series(1, $1::int)`, [n]).map((x) => Number(x.id)).reverse();
      }
      const id = this.ids.pop()!;
      this.names.set(id, `${r.ns}\0${r.name}`);
      this.queueRow('insertSecret', String(id), [id, r.ns, r.name, r.uid, r.current_version, r.highest_version, r.description, r.created_at, r.updated_at, r.removed_at, r.expires_at, r.not_secret, r.mac, r.rotation_due ?? 0]);
      return id;
    }
    const [row] = this.q(
      `INSERT INTO secrets (ns, name, uid, current_version, highest_version, description, created_at, updated_at, removed_at, expires_at, not_secret, rotation_due, mac)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id`,
      [r.ns, r.name, r.uid, r.current_version, r.highest_version, r.description, r.created_at, r.updated_at, r.removed_at, r.expires_at, r.not_secret, r.rotation_due ?? 0, r.mac],
    );
    return Number(row!.id);
  }
  updateSecret(r: SecretRow): void {
    const params = [r.id, r.ns, r.name, r.uid, r.current_version, r.highest_version, r.description, r.created_at, r.updated_at, r.removed_at, r.expires_at, r.not_secret, r.mac, r.rotation_due ?? 0];
    const id = Number(r.id);
    const name = `${r.ns}\0${r.name}`;
    if (this.depth > 0 && this.names.get(id) === name) {
      this.queueRow('updateSecret', String(id), params);
    } else {
      this.exec(ROW_BATCHES.updateSecret.single, params);
      if (this.depth > 0) this.names.set(id, name);
    }
  }

  /** Notes the names of rows read inside a transaction (see `names`). */
  private known(rows: SecretRow[]): SecretRow[] {
    if (this.depth > 0) for (const r of rows) this.names.set(Number(r.id), `${r.ns}\0${r.name}`);
    return rows;
  }
  findVersion(secretId: number, version: number): VersionRow | undefined {
    const key = `${secretId}:${version}`;
    const cached = this.versionRows.get(key);
    if (cached) return cached;
    const i = this.versionKeys?.at.get(key);
    if (i !== undefined) {
      // The next window of rows in key order, this one first.
      const list = this.versionKeys!.list;
      const last = list[Math.min(i + 999, list.length - 1)]!;
      const rows = this.q(
        `SELECT ${VERSION_COLUMNS} FROM versions WHERE (secret_id, version) >= ($1, $2) AND (secret_id, version) <= ($3, $4) ORDER BY secret_id, version`,
        [secretId, version, last.secret_id, last.version],
      ) as unknown as VersionRow[];
      this.versionRows.clear();
      for (const r of rows) this.versionRows.set(`${r.secret_id}:${r.version}`, r);
      return this.versionRows.get(key);
    }
    return this.q(`SELECT ${VERSION_COLUMNS} FROM versions WHERE secret_id = $1 AND version = $2`, [secretId, version])[0] as unknown as VersionRow | undefined;
  }
  versionsOf(secretId: number): VersionRow[] {
    return this.q(`SELECT ${VERSION_COLUMNS} FROM versions WHERE secret_id = $1 ORDER BY version`, [secretId]) as unknown as VersionRow[];
  }
  countVersionsOf(secretId: number): number {
    return Number(this.q('SELECT COUNT(*) AS n FROM versions WHERE secret_id = $1', [secretId])[0]!.n);
  }
  insertVersion(v: VersionRow): void {
    this.versionRows.delete(`${v.secret_id}:${v.version}`);
    this.queueRow('insertVersion', `${v.secret_id}:${v.version}`, [v.secret_id, v.version, v.nonce, v.ciphertext, v.size, v.expires_at, v.origin, v.created_at]);
  }
  deleteVersions(secretId: number): number {
    this.versionKeys = null;
    this.versionRows.clear();
    return Number(this.q('WITH d AS (DELETE FROM versions WHERE secret_id = $1 RETURNING 1) SELECT COUNT(*) AS n FROM d', [secretId])[0]!.n);
  }
  versionPage(after: { secret_id: number; version: number } | null, limit: number): VersionRow[] {
    return this.q(`SELECT ${VERSION_COLUMNS} FROM versions WHERE (secret_id, version) > ($1, $2) ORDER BY secret_id, version LIMIT $3`, [
      after?.secret_id ?? -1, after?.version ?? -1, limit,
    ]) as unknown as VersionRow[];
  }
  allVersionKeys(): Array<{ secret_id: number; version: number }> {
    const list = this.q('SELECT secret_id, version FROM versions ORDER BY secret_id, version') as unknown as Array<{ secret_id: number; version: number }>;
    if (this.depth > 0) this.versionKeys = { list, at: new Map(list.map((k, i) => [`${k.secret_id}:${k.version}`, i])) };
    return list;
  }
  setCiphertext(secretId: number, version: number, nonce: Buffer, ciphertext: Buffer): void {
    const key = `${secretId}:${version}`;
    const cached = this.versionRows.get(key);
    if (cached) this.versionRows.set(key, { ...cached, nonce, ciphertext });
    this.queueRow('setCiphertext', key, [secretId, version, nonce, ciphertext]);
  }
  markRotationDue(): number {
    return Number(
      this.q('WITH u AS (UPDATE secrets SET rotation_due = 1 WHERE rotation_due = 0 AND EXISTS (SELECT 1 FROM versions WHERE secret_id = secrets.id) RETURNING 1) SELECT COUNT(*) AS n FROM u')[0]!.n,
    );
  }
  counts(): { secrets: number; removed: number; versions: number; audit: number; rotationDue: number } {
    const [r] = this.q(`SELECT (SELECT COUNT(*) FROM secrets WHERE removed_at IS NULL) AS secrets, (SELECT COUNT(*) FROM secrets WHERE removed_at IS NOT NULL) AS removed,
      (SELECT COUNT(*) FROM versions) AS versions, (SELECT COUNT(*) FROM audit) AS audit, (SELECT COUNT(*) FROM secrets WHERE removed_at IS NULL AND rotation_due <> 0) AS due`);
    return { secrets: Number(r!.secrets), removed: Number(r!.removed), versions: Number(r!.versions), audit: Number(r!.audit), rotationDue: Number(r!.due) };
  }

  // ---- agent grants -----------------------------------------------------------------------

  findGrant(name: string): GrantRow | undefined {
    return this.q(`SELECT ${GRANT_COLUMNS} FROM grants WHERE name = $1`, [name])[0] as unknown as GrantRow | undefined;
  }
  allGrants(): GrantRow[] {
    return this.q(`SELECT ${GRANT_COLUMNS} FROM grants ORDER BY name COLLATE "C"`) as unknown as GrantRow[];
  }
  grantMacs(): Array<{ id: number; mac: Buffer | null }> {
    if (this.grantMacList) return this.grantMacList.map((r) => ({ ...r }));
    return this.q('SELECT id, mac FROM grants ORDER BY id') as unknown as Array<{ id: number; mac: Buffer | null }>;
  }
  insertGrant(g: Omit<GrantRow, 'id'>): number {
    this.grantMacList = null;
    const [row] = this.q(
      `INSERT INTO grants (name, uid, secrets, ns, prefix, hosts, commands, expires_at, max_uses, rate, reveal, created_at, uses, last_used_at, recent, mac)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id`,
      [g.name, g.uid, g.secrets, g.ns, g.prefix, g.hosts, g.commands, g.expires_at, g.max_uses, g.rate, g.reveal, g.created_at, g.uses, g.last_used_at, g.recent, g.mac],
    );
    return Number(row!.id);
  }
  updateGrant(g: GrantRow): void {
    this.grantMacList = null;
    this.exec(
      `UPDATE grants SET name = $2, uid = $3, secrets = $4, ns = $5, prefix = $6, hosts = $7, commands = $8, expires_at = $9, max_uses = $10,
         rate = $11, reveal = $12, created_at = $13, uses = $14, last_used_at = $15, recent = $16, mac = $17 WHERE id = $1`,
      [g.id, g.name, g.uid, g.secrets, g.ns, g.prefix, g.hosts, g.commands, g.expires_at, g.max_uses, g.rate, g.reveal, g.created_at, g.uses, g.last_used_at, g.recent, g.mac],
    );
  }
  deleteGrant(id: number): void {
    this.grantMacList = null;
    this.exec('DELETE FROM grants WHERE id = $1', [id]);
  }

  // ---- the audit chain: src/audit/log.ts's rules, in PostgreSQL ----------------------------

  appendAudit(key: Buffer, vaultId: string, entry: AuditEntry, actor: Actor, now: number): { seq: number } {
    // The last row as the transaction's BEGIN read it (under the vault's lock) and this
    // connection's appends kept it; head and next from the meta cache.
    const known = this.auditTop !== undefined && this.meta ? this.auditTop : undefined;
    const [top] = known
      ? [{ last_seq: known.seq, last_mac: known.mac, head: this.meta!.get(HEAD_META) ?? null, next: this.meta!.get(NEXT_SEQ_META) ?? null }]
      : this.q(`SELECT (SELECT seq FROM audit ORDER BY seq DESC LIMIT 1) AS last_seq, (SELECT mac FROM audit ORDER BY seq DESC LIMIT 1) AS last_mac,
      (SELECT value FROM meta WHERE key = $1) AS head, (SELECT value FROM meta WHERE key = $2) AS next`, [HEAD_META, NEXT_SEQ_META]);
    const lastSeq = top!.last_seq === null ? null : Number(top!.last_seq);
    let prev = (top!.last_mac as Buffer | null) ?? GENESIS_MAC;
    if (lastSeq !== null && top!.last_mac === null) {
      // Seal the failed unlocks recorded since the last sealed entry, as appendAudit does.
      const [sealed] = this.q('SELECT seq, at, mac FROM audit WHERE mac IS NOT NULL ORDER BY seq DESC LIMIT 1') as Array<{ seq: number; at: number; mac: Buffer }>;
      prev = sealed?.mac ?? GENESIS_MAC;
      let floor = sealed?.at ?? 0;
      for (const row of this.q(`SELECT ${AUDIT_COLUMNS} FROM audit WHERE seq > $1 ORDER BY seq`, [sealed?.seq ?? 0]) as unknown as AuditRow[]) {
        if (row.mac !== null || !isFailedUnlock(row) || row.at < floor || row.at > now) continue;
        floor = row.at;
        const mac = entryMac(key, vaultId, row, prev);
        this.exec('UPDATE audit SET mac = $1 WHERE seq = $2', [mac, row.seq]);
        this.auditTop = undefined;
        prev = mac;
      }
    }
    const stored = parseHead((top!.head as string | null) ?? undefined);
    const head = stored && stored !== 'malformed' && headIsAuthentic(key, vaultId, stored) ? stored : null;
    const seq = Math.max((lastSeq ?? 0) + 1, parseNextSeq((top!.next as string | null) ?? undefined) ?? 0, head ? head.seq + 1 : 0);
    const body = bodyFor(seq, entry, actor, now);
    const mac = entryMac(key, vaultId, body, prev);
    this.insertAudit({ ...body, mac });
    this.setMeta(NEXT_SEQ_META, String(seq + 1));
    this.setMeta(HEAD_META, `${seq}:${mac.toString('hex')}:${headTag(key, vaultId, seq, mac).toString('hex')}`);
    return { seq };
  }

  private insertAudit(r: AuditRow): void {
    this.auditTop = this.auditTop === undefined ? undefined : { seq: r.seq, mac: r.mac };
    this.exec(`INSERT INTO audit (${AUDIT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`, [
      r.seq, r.at, r.op, r.ns, r.name, r.version, r.outcome, r.actor_user, r.actor_pid, r.actor_parent, r.detail, r.mac,
    ]);
  }

  appendPending(entry: AuditEntry & { op: 'unlock'; outcome: 'denied' }, actor: Actor, now: number): { seq: number } {
    return this.write(() => {
      const [top] = this.q(`SELECT (SELECT seq FROM audit ORDER BY seq DESC LIMIT 1) AS last_seq, (SELECT value FROM meta WHERE key = $1) AS next`, [NEXT_SEQ_META]);
      const seq = Math.max(Number(top!.last_seq ?? 0) + 1, parseNextSeq((top!.next as string | null) ?? undefined) ?? 0);
      this.insertAudit({ ...bodyFor(seq, { ...entry, ns: null, name: null, version: null }, actor, now), mac: null });
      this.setMeta(NEXT_SEQ_META, String(seq + 1));
      return { seq };
    });
  }

  chainStatus(): ChainStatus {
    if (this.depth === 0 && this.idleChain) return { ...this.idleChain };
    return chainOf(this.q(CHAIN_SQL));
  }

  retagHead(key: Buffer, vaultId: string): void {
    const head = parseHead(this.getMeta(HEAD_META));
    if (!head || head === 'malformed') return;
    this.setMeta(HEAD_META, `${head.seq}:${head.mac.toString('hex')}:${headTag(key, vaultId, head.seq, head.mac).toString('hex')}`);
  }

  queryAudit(filter: AuditFilter): AuditRecord[] {
    const where: string[] = [];
    const params: unknown[] = [];
    const p = (v: unknown): string => {
      params.push(v);
      return `$${params.length}`;
    };
    if (filter.ns !== undefined) where.push(`ns = ${p(filter.ns)}`);
    // A name: its own entries and the bulk entries (whose expanded name lists filterExpanded checks).
    if (filter.name !== undefined) where.push(`(name = ${p(filter.name)} OR (name IS NULL AND op = ANY(${p(BULK_OPS)}::text[])))`);
    // A grant: entries whose detail names it (checked on the parsed detail below; a malformed one never matches).
    if (filter.grant !== undefined) where.push(`strpos(detail, '"grant"') > 0`);
    if (filter.ops !== undefined && filter.ops.length > 0) where.push(`op = ANY(${p(filter.ops)}::text[])`);
    if (filter.since !== undefined) where.push(`at >= ${p(filter.since)}`);
    const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    let rows: AuditRow[];
    const filterLater = filter.name !== undefined || filter.grant !== undefined;
    if (filter.limit !== undefined && !filterLater) {
      rows = (this.q(`SELECT ${AUDIT_COLUMNS} FROM audit ${clause} ORDER BY seq DESC LIMIT ${p(filter.limit)}`, params) as unknown as AuditRow[]).reverse();
    } else {
      rows = this.q(`SELECT ${AUDIT_COLUMNS} FROM audit ${clause} ORDER BY seq`, params) as unknown as AuditRow[];
    }
    let records = rows.map(toRecord);
    if (filter.grant !== undefined) {
      const grant = filter.grant;
      records = records.filter((r) => typeof r.detail === 'object' && r.detail !== null && r.detail.grant === grant);
      if (filter.name === undefined && filter.limit !== undefined) records = filter.limit > 0 ? records.slice(-filter.limit) : [];
    }
    return filterExpanded(records, filter);
  }

  verifyChain(keys: ReadonlyArray<AuditKey>, vaultId: string): AuditVerification {
    return this.read(() => {
      const rows = this.q(`SELECT ${AUDIT_COLUMNS} FROM audit ORDER BY seq`) as unknown as AuditRow[];
      const [m] = this.q('SELECT (SELECT value FROM meta WHERE key = $1) AS head, (SELECT value FROM meta WHERE key = $2) AS next', [HEAD_META, NEXT_SEQ_META]);
      return verifyRows(
        { rows: () => rows, all: () => rows, head: parseHead((m!.head as string | null) ?? undefined), counter: parseNextSeq((m!.next as string | null) ?? undefined) },
        keys,
        vaultId,
      );
    });
  }
}

function chainOf(rows: Array<Record<string, unknown>>): ChainStatus {
  const r = rows[0]!;
  const head = r.seq === null ? null : { seq: Number(r.seq), mac: (r.mac as Buffer).toString('hex').slice(0, 16) };
  return { head, pending: Number(r.pending) };
}

/** A secrets row joined with its current version (columns v_*). */
function splitJoined(r: Record<string, unknown>): { secret: SecretRow; row: VersionRow | undefined } {
  const secret = {
    id: r.id, ns: r.ns, name: r.name, uid: r.uid, current_version: r.current_version, highest_version: r.highest_version, description: r.description,
    created_at: r.created_at, updated_at: r.updated_at, removed_at: r.removed_at, expires_at: r.expires_at, not_secret: r.not_secret, rotation_due: r.rotation_due, mac: r.mac,
  } as unknown as SecretRow;
  const row = r.v_version === null || r.v_version === undefined ? undefined : ({
    secret_id: secret.id, version: r.v_version, nonce: r.v_nonce, ciphertext: r.v_ciphertext, size: r.v_size,
    expires_at: r.v_expires_at, origin: r.v_origin, created_at: r.v_created_at,
  } as unknown as VersionRow);
  return { secret, row };
}

function isBatch(q: Queued | undefined, kind: BatchKind): boolean {
  return q !== undefined && 'batch' in q && q.batch === kind;
}

function metaMap(rows: Array<Record<string, unknown>>): Map<string, string> {
  return new Map(rows.map((r) => [r.key as string, r.value as string]));
}

function slotParams(s: SlotRow): unknown[] {
  return [s.id, s.kind, s.label, s.kdf, s.kdf_params, s.salt, s.nonce, s.wrapped_key, s.created_at, s.last_used_at, s.public_key, s.ephemeral_key, s.key_mac, s.wrap_format, s.pending];
}
