import type { Database } from 'better-sqlite3';
import { stmt } from './statements.js';

/** A secret as stored. uid, mac, highest_version and expires_at come with migration 4. */
export interface SecretRow {
  id: number;
  ns: string;
  name: string;
  /** random, bound into every ciphertext of the secret; renewed by a purge */
  uid: Buffer | null;
  current_version: number;
  /** the highest version ever stored: version numbers are never reused, not even after a purge */
  highest_version: number;
  description: string | null;
  created_at: number;
  updated_at: number;
  removed_at: number | null;
  /** the current version's expiry */
  expires_at: number | null;
  /** 1: a value masking leaves alone (PORT, NODE_ENV); migration 5, covered by the MAC */
  not_secret: number;
  /** 1: a removed member could read its value (member rm); cleared by a new value; migration 6, in the MAC when set */
  rotation_due: number;
  mac: Buffer | null;
}

export interface VersionRow {
  secret_id: number;
  version: number;
  nonce: Buffer;
  ciphertext: Buffer;
  size: number;
  expires_at: number | null;
  origin: string;
  created_at: number;
}

const SECRET = 'id, ns, name, uid, current_version, highest_version, description, created_at, updated_at, removed_at, expires_at, not_secret, rotation_due, mac';

export function findSecret(db: Database, ns: string, name: string): SecretRow | undefined {
  return stmt(db, `SELECT ${SECRET} FROM secrets WHERE ns = ? AND name = ?`).get(ns, name) as SecretRow | undefined;
}

/** Every secret, removed ones too (the state digest, rotation and the upgrade walk them all). */
export function allSecrets(db: Database): SecretRow[] {
  return stmt(db, `SELECT ${SECRET} FROM secrets ORDER BY id`).all() as SecretRow[];
}

/**
 * better-sqlite3 gives each BLOB value its own Buffer, made in native code: about 4 µs apiece,
 * most of a bulk read's row at 10,000 secrets. Read as hex text instead (SQLite's hex()), a
 * row's BLOBs become one small Buffer from node's pool, and each BLOB a view into it.
 * `lengths` are SQLite's length() of each BLOB, null for a NULL.
 */
function blobsFromHex(hex: string, lengths: ReadonlyArray<number | null>): Array<Buffer | null> {
  const all = Buffer.from(hex, 'hex');
  const out: Array<Buffer | null> = [];
  let at = 0;
  for (const length of lengths) {
    if (length === null) {
      out.push(null);
    } else {
      out.push(all.subarray(at, at + length));
      at += length;
    }
  }
  if (at !== all.length) throw new Error('blobsFromHex: lengths do not match the bytes read');
  return out;
}

/** The MAC of every secret, by id: what the state digest covers. */
export function secretMacs(db: Database): Array<{ id: number; mac: Buffer | null }> {
  // The state digest of a file vault reads secretDigestRows instead; this is the plain form.
  return stmt(db, 'SELECT id, mac FROM secrets ORDER BY id').all() as Array<{ id: number; mac: Buffer | null }>;
}

/** Secrets per piece of secretDigestRows: about 150 KB of text from SQLite each. */
const DIGEST_PIECE = 1024;

/**
 * One secret's row of the state digest, as hex, made by SQLite: src/core/integrity.ts's
 * stateDigest hashes encodeAad('row', ['secret', id, mac]) for each secret, that is each field
 * as a 4-byte big-endian length and its bytes: "row", "secret", the id in decimal (SQLite's
 * text of an integer, which is JavaScript's String(id) for every id a vault writes, all below
 * 2^53), and the MAC (no bytes when NULL). test/unit/integrity.test.ts compares the two.
 */
const DIGEST_ROW = `'00000003' || hex('row') || '00000006' || hex('secret') || printf('%08X', length(id)) || hex(id) || printf('%08X', coalesce(length(mac), 0)) || coalesce(hex(mac), '')`;

/**
 * The secret rows of the state digest (see DIGEST_ROW), in id order, DIGEST_PIECE rows a
 * piece, each piece one hex text from SQLite: no row array, string or Buffer per secret. Call
 * inside one transaction, so that every piece comes from the same commit. The ids go back to
 * SQLite as BigInts (safeIntegers), exact whatever a file holds.
 */
export function* secretDigestRows(db: Database): Generator<Buffer> {
  const page = (where: string): string =>
    `SELECT max(id), group_concat(enc, '' ORDER BY id) FROM (SELECT id, ${DIGEST_ROW} AS enc FROM secrets ${where} ORDER BY id LIMIT ${DIGEST_PIECE})`;
  let piece = stmt(db, page('')).raw(true).safeIntegers(true).get() as [bigint | null, string | null];
  while (piece[0] !== null) {
    yield Buffer.from(piece[1]!, 'hex');
    piece = stmt(db, page('WHERE id > ?')).raw(true).safeIntegers(true).get(piece[0]) as [bigint | null, string | null];
  }
}

/**
 * What `vault list` shows of a secret (no uid, MAC or id: it reads no value and checks
 * nothing), as a row of its columns; the namespace only in a list of every namespace.
 */
export type ListedRow = [
  name: string,
  current_version: number,
  description: string | null,
  created_at: number,
  updated_at: number,
  expires_at: number | null,
  not_secret: number,
  rotation_due: number,
  ns?: string,
];

/**
 * The current secrets as `vault list` shows them, of one namespace or all, by namespace and
 * name, as better-sqlite3 reads them: arrays (no 14-key object with two Buffers per row: at
 * 10,000 secrets the full rows cost 70 ms, these 9), one at a time, so that each is garbage as
 * soon as the caller has made what it keeps (not 10,000 arrays and as many objects made from
 * them alive until the last row is read, copied by every young-generation collection
 * meanwhile), and for one namespace without the namespace (the caller has it).
 * Run no other statement on this connection until the iteration ends.
 */
export function listedSecrets(db: Database, ns: string | null): IterableIterator<ListedRow> {
  const columns = 'name, current_version, description, created_at, updated_at, expires_at, not_secret, rotation_due';
  return (
    ns === null
      ? stmt(db, `SELECT ${columns}, ns FROM secrets WHERE removed_at IS NULL ORDER BY ns, name`).raw(true).iterate()
      : stmt(db, `SELECT ${columns} FROM secrets WHERE removed_at IS NULL AND ns = ? ORDER BY name`).raw(true).iterate(ns)
  ) as IterableIterator<ListedRow>;
}

/** The current (not removed) secrets, of one namespace or all, by namespace and name. */
export function currentSecrets(db: Database, ns: string | null): SecretRow[] {
  return stmt(db, `SELECT ${SECRET} FROM secrets WHERE removed_at IS NULL AND (@ns IS NULL OR ns = @ns) ORDER BY ns, name`).all({ ns }) as SecretRow[];
}

/**
 * A namespace's current secrets with their current version row, in one query (by name): the
 * bulk reads (exec, env, export) at 10,000 secrets ran one query per secret. `row` is
 * undefined when the current version's row is missing.
 */
export function* currentWithVersions(db: Database, ns: string): Generator<{ secret: SecretRow; row: VersionRow | undefined }> {
  // raw(): rows as arrays, no object with 19 named keys built per row. The four BLOBs come as
  // one hex text with their lengths (see blobsFromHex).
  const rows = stmt(
    db,
    // The namespace and removed_at are what the WHERE clause makes them, so they are not read.
    `SELECT s.id, s.name, s.current_version, s.highest_version, s.description, s.created_at, s.updated_at, s.expires_at,
       v.version, v.size, v.expires_at, v.origin, v.created_at, s.not_secret, s.rotation_due,
       length(s.uid), length(s.mac), length(v.nonce), length(v.ciphertext), hex(s.uid) || hex(s.mac) || hex(v.nonce) || hex(v.ciphertext)
     FROM secrets s LEFT JOIN versions v ON v.secret_id = s.id AND v.version = s.current_version
     WHERE s.removed_at IS NULL AND s.ns = ? ORDER BY s.name`,
  )
    .raw(true)
    .iterate(ns) as IterableIterator<unknown[]>;
  for (const r of rows) {
    const [uid, mac, nonce, ciphertext] = blobsFromHex(r[19] as string, [r[15] as number | null, r[16] as number | null, r[17] as number | null, r[18] as number | null]);
    const secret: SecretRow = {
      id: r[0] as number, ns, name: r[1] as string, uid: uid!, current_version: r[2] as number,
      highest_version: r[3] as number, description: r[4] as string | null, created_at: r[5] as number, updated_at: r[6] as number,
      removed_at: null, expires_at: r[7] as number | null, mac: mac!,
      not_secret: r[13] as number, rotation_due: r[14] as number,
    };
    // A version row has a nonce and a ciphertext (NOT NULL): none means no row matched.
    const row: VersionRow | undefined = r[8] === null ? undefined : {
      secret_id: secret.id, version: r[8] as number, nonce: nonce!, ciphertext: ciphertext!, size: r[9] as number,
      expires_at: r[10] as number | null, origin: r[11] as string, created_at: r[12] as number,
    };
    yield { secret, row };
  }
}

/** The names of a namespace's current secrets (a check before unlocking needs no more). */
export function currentNames(db: Database, ns: string): string[] {
  return stmt(db, 'SELECT name FROM secrets WHERE removed_at IS NULL AND ns = ? ORDER BY name').pluck(true).all(ns) as string[];
}

/** Every secret of a namespace, removed ones and tombstones too, by name (import looks each name up once). */
export function secretsOfNamespace(db: Database, ns: string): Map<string, SecretRow> {
  const rows = stmt(db, `SELECT ${SECRET} FROM secrets WHERE ns = ?`).all(ns) as SecretRow[];
  return new Map(rows.map((r) => [r.name, r]));
}

export function insertSecret(db: Database, row: Omit<SecretRow, 'id'>): number {
  const info = stmt(
    db,
    `INSERT INTO secrets (ns, name, uid, current_version, highest_version, description, created_at, updated_at, removed_at, expires_at, not_secret, rotation_due, mac)
     VALUES (@ns, @name, @uid, @current_version, @highest_version, @description, @created_at, @updated_at, @removed_at, @expires_at, @not_secret, @rotation_due, @mac)`,
  ).run(row);
  return Number(info.lastInsertRowid);
}

export function updateSecret(db: Database, row: SecretRow): void {
  stmt(
    db,
    `UPDATE secrets SET ns = @ns, name = @name, uid = @uid, current_version = @current_version, highest_version = @highest_version,
       description = @description, created_at = @created_at, updated_at = @updated_at, removed_at = @removed_at, expires_at = @expires_at, not_secret = @not_secret,
       rotation_due = @rotation_due, mac = @mac
     WHERE id = @id`,
  ).run(row);
}

export function findVersion(db: Database, secretId: number, version: number): VersionRow | undefined {
  return stmt(db, 'SELECT * FROM versions WHERE secret_id = ? AND version = ?').get(secretId, version) as VersionRow | undefined;
}

export function versionsOf(db: Database, secretId: number): VersionRow[] {
  return stmt(db, 'SELECT * FROM versions WHERE secret_id = ? ORDER BY version').all(secretId) as VersionRow[];
}

export function countVersionsOf(db: Database, secretId: number): number {
  return (stmt(db, 'SELECT COUNT(*) AS n FROM versions WHERE secret_id = ?').get(secretId) as { n: number }).n;
}

export function insertVersion(db: Database, row: VersionRow): void {
  stmt(
    db,
    `INSERT INTO versions (secret_id, version, nonce, ciphertext, size, expires_at, origin, created_at)
     VALUES (@secret_id, @version, @nonce, @ciphertext, @size, @expires_at, @origin, @created_at)`,
  ).run(row);
}

export function deleteVersions(db: Database, secretId: number): number {
  return stmt(db, 'DELETE FROM versions WHERE secret_id = ?').run(secretId).changes;
}

/** Every version's key (no ciphertext): rotation fetches ciphertexts one at a time. */
export function allVersionKeys(db: Database): Array<{ secret_id: number; version: number }> {
  return stmt(db, 'SELECT secret_id, version FROM versions ORDER BY secret_id, version').all() as Array<{ secret_id: number; version: number }>;
}

export function versionPage(db: Database, after: { secret_id: number; version: number } | null, limit: number): VersionRow[] {
  return stmt(db, 'SELECT * FROM versions WHERE (secret_id, version) > (?, ?) ORDER BY secret_id, version LIMIT ?').all(after?.secret_id ?? -1, after?.version ?? -1, limit) as VersionRow[];
}

export function setCiphertext(db: Database, secretId: number, version: number, nonce: Buffer, ciphertext: Buffer): void {
  stmt(db, 'UPDATE versions SET nonce = ?, ciphertext = ? WHERE secret_id = ? AND version = ?').run(nonce, ciphertext, secretId, version);
}

/** member rm: every secret that has a value (not a purged tombstone) marked rotation due; the caller re-MACs them. */
export function markRotationDue(db: Database): number {
  return stmt(db, 'UPDATE secrets SET rotation_due = 1 WHERE rotation_due = 0 AND EXISTS (SELECT 1 FROM versions WHERE secret_id = secrets.id)').run().changes;
}

export function counts(db: Database): { secrets: number; removed: number; versions: number; audit: number; rotationDue: number } {
  const one = (sql: string): number => (stmt(db, sql).get() as { n: number }).n;
  return {
    secrets: one('SELECT COUNT(*) AS n FROM secrets WHERE removed_at IS NULL'),
    removed: one('SELECT COUNT(*) AS n FROM secrets WHERE removed_at IS NOT NULL'),
    versions: one('SELECT COUNT(*) AS n FROM versions'),
    audit: one('SELECT COUNT(*) AS n FROM audit'),
    rotationDue: one('SELECT COUNT(*) AS n FROM secrets WHERE removed_at IS NULL AND rotation_due <> 0'),
  };
}
