import { spawn, spawnSync } from 'node:child_process';
import type { AuditRow } from '../../src/audit/log.js';
import { mkdtempSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Reads and edits a vault file from outside vault, the way an attacker or a curious user
 * would: through python3's sqlite3 module, not through the code under test. BLOBs travel
 * as `{hex}` objects both ways. The one way tests reach into the file from outside.
 */

export type Cell = string | number | null | { hex: string };
export type Row = Record<string, Cell>;
export interface Statement {
  sql: string;
  params?: Array<string | number | null | Buffer>;
}

const PY = `
import json, sqlite3, sys
def enc(v):
    return {'hex': v.hex()} if isinstance(v, bytes) else v
def dec(v):
    return bytes.fromhex(v['hex']) if isinstance(v, dict) else v
def handle(req):
    # a connection per request, closed after it: nothing stays open between two calls
    con = sqlite3.connect(req['path'], isolation_level=None)
    try:
        if 'script' in req:
            con.executescript(req['script'])
            return []
        if req.get('dump'):
            return '\\n'.join(con.iterdump())
        out = []
        for st in req['statements']:
            cur = con.execute(st['sql'], [dec(p) for p in st['params']])
            cols = [d[0] for d in cur.description or []]
            out.append([dict(zip(cols, [enc(v) for v in row])) for row in cur.fetchall()])
        return out
    finally:
        con.close()
if len(sys.argv) == 3:
    # serve: one JSON request per line on the first FIFO, one answer per line on the second
    with open(sys.argv[1], 'r') as requests, open(sys.argv[2], 'w') as answers:
        for line in requests:
            try:
                answer = {'rows': handle(json.loads(line))}
            except Exception as e:
                answer = {'error': repr(e)}
            answers.write(json.dumps(answer) + '\\n')
            answers.flush()
else:
    json.dump(handle(json.load(sys.stdin)), sys.stdout)
`;

/**
 * One python3 per test process, serving requests over two FIFOs, so a test pays python's
 * start-up once instead of once per statement. The calls stay synchronous: the request is
 * written and the answer read with blocking fs calls on the FIFOs.
 */
let server: { req: number; res: number } | null | undefined;

function startServer(): { req: number; res: number } | null {
  const dir = mkdtempSync(join(tmpdir(), 'vault-sqlite-'));
  const reqPath = join(dir, 'req');
  const resPath = join(dir, 'res');
  if (spawnSync('mkfifo', [reqPath, resPath]).status !== 0) return null;
  const child = spawn('python3', ['-c', PY, reqPath, resPath], { stdio: ['ignore', 'ignore', 'inherit'] });
  child.unref();
  // Opening a FIFO blocks until the other end opens it; python opens them in the same order.
  const req = openSync(reqPath, 'w');
  const res = openSync(resPath, 'r');
  rmSync(dir, { recursive: true, force: true });
  return { req, res };
}

function ask<T = Row[][]>(request: string): T {
  server ??= startServer();
  if (server === null) {
    const r = spawnSync('python3', ['-c', PY], { input: request, encoding: 'utf8', maxBuffer: 1 << 30 });
    if (r.status !== 0) throw new Error(`python3 sqlite3 failed (${r.status ?? r.error?.message}): ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  }
  writeSync(server.req, `${request}\n`);
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(1 << 16);
  for (;;) {
    const n = readSync(server.res, buf, 0, buf.length, null);
    if (n === 0) throw new Error('python3 sqlite3 server ended');
    chunks.push(Buffer.from(buf.subarray(0, n)));
    if (buf[n - 1] === 0x0a) break;
  }
  const answer = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { rows: T } | { error: string };
  if ('error' in answer) throw new Error(`python3 sqlite3 failed: ${answer.error}`);
  return answer.rows;
}

/**
 * Runs statements in autocommit mode (each one commits) and returns each one's rows; a string
 * is run as a script (several statements, no parameters, no rows back).
 */
export function sqlite(path: string, statements: Statement[] | string): Row[][] {
  if (typeof statements === 'string') return ask(JSON.stringify({ path, script: statements }));
  const req = {
    path,
    statements: statements.map((s) => ({
      sql: s.sql,
      params: (s.params ?? []).map((p) => (Buffer.isBuffer(p) ? { hex: p.toString('hex') } : p)),
    })),
  };
  return ask(JSON.stringify(req));
}

export function query(path: string, sql: string, params: Statement['params'] = []): Row[] {
  return sqlite(path, [{ sql, params }])[0]!;
}

export function exec(path: string, sql: string, params: Statement['params'] = []): void {
  sqlite(path, [{ sql, params }]);
}

export function blob(cell: Cell | undefined): Buffer {
  if (cell === null || typeof cell !== 'object') throw new Error(`not a blob: ${JSON.stringify(cell)}`);
  return Buffer.from(cell.hex, 'hex');
}

/**
 * Flips the low bit of one byte of a BLOB column in the rows `where` selects. `index` may be
 * negative (from the end: -1 is the last byte).
 */
export function flipByte(path: string, table: string, column: string, where: string, params: Statement['params'], index: number): void {
  const rows = query(path, `SELECT rowid AS rid, ${column} AS b FROM ${table} WHERE ${where}`, params);
  if (rows.length !== 1) throw new Error(`flipByte: ${rows.length} rows match ${where}`);
  const bytes = blob(rows[0]!.b);
  const at = index < 0 ? bytes.length + index : index;
  bytes[at] = bytes[at]! ^ 0x01;
  exec(path, `UPDATE ${table} SET ${column} = ? WHERE rowid = ?`, [bytes, rows[0]!.rid as number]);
}

/**
 * The rows that hold secrets and keys, as one comparable text. The audit table and its head
 * and counter in meta are left out (refusals append to the log by design), and so is slots.last_used_at unless asked for: a
 * successful unlock stamps it even when the operation is then refused.
 */
export function snapshot(path: string, options: { lastUsed?: boolean } = {}): string {
  const slotCols = `id, kind, label, kdf, kdf_params, salt, nonce, wrapped_key, created_at${options.lastUsed ? ', last_used_at' : ''}`;
  const [meta, slots, secrets, versions] = sqlite(path, [
    { sql: `SELECT * FROM meta WHERE key NOT IN ('audit_head', 'audit_next_seq') ORDER BY key` },
    { sql: `SELECT ${slotCols} FROM slots ORDER BY id` },
    { sql: 'SELECT * FROM secrets ORDER BY id' },
    { sql: 'SELECT * FROM versions ORDER BY secret_id, version' },
  ]);
  return JSON.stringify({ meta, slots, secrets, versions }, null, 1);
}

/** The raw bytes of the file (no SQLite involved). */
export function fileBytes(path: string): Buffer {
  return readFileSync(path);
}

/**
 * A second process (python3) holding the database open, so that vault's connection is not
 * the last one and SQLite keeps the -wal and -shm files when vault exits.
 */
export async function holdOpen(path: string): Promise<{ release: () => Promise<void> }> {
  const child = spawn(
    'python3',
    ['-c', `import sqlite3, sys\ncon = sqlite3.connect(sys.argv[1])\ncon.execute('SELECT COUNT(*) FROM meta').fetchall()\nprint('ready', flush=True)\nsys.stdin.read()\ncon.close()\n`, path],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`holdOpen: python3 exited ${code}: ${err}`)));
  });
  return {
    release: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.stdin.end();
      }),
  };
}

/** Rows of a query with plain values (select BLOB columns as hex(col)). */
export function sqliteJson<T = Record<string, unknown>>(path: string, statement: string): T[] {
  return query(path, statement) as unknown as T[];
}

/** The same, typed as text, numbers and NULLs. */
export function sql(path: string, statement: string): Array<Record<string, string | number | null>> {
  return query(path, statement) as Array<Record<string, string | number | null>>;
}

/** The whole database as SQL text: equal dumps mean nothing changed. */
export function dump(path: string): string {
  return ask<string>(JSON.stringify({ path, dump: true }));
}

/** An audit row as stored: the MAC as lowercase hex, null for an unsealed entry. */
export type RawAuditRow = Omit<AuditRow, 'mac'> & { mac: string | null };

export function auditRows(path: string): RawAuditRow[] {
  return sqliteJson<RawAuditRow>(
    path,
    'SELECT seq, at, op, ns, name, version, outcome, actor_user, actor_pid, actor_parent, detail, lower(hex(mac)) AS mac FROM audit ORDER BY seq',
  ).map((r) => ({ ...r, mac: r.mac === '' ? null : r.mac }));
}

export interface AuditRecord {
  op: string;
  ns: string | null;
  name: string | null;
  outcome: string;
  detail: Record<string, unknown> | null;
}

/** The audit entries, oldest first, their details parsed. */
export function auditLog(path: string): AuditRecord[] {
  return sqliteJson<Omit<AuditRecord, 'detail'> & { detail: string | null }>(path, 'SELECT op, ns, name, outcome, detail FROM audit ORDER BY seq').map((r) => ({
    ...r,
    detail: r.detail === null ? null : (JSON.parse(r.detail) as Record<string, unknown>),
  }));
}

/** Every row of the secrets, versions and audit tables, to compare a vault before and after. */
export function rowsSnapshot(path: string): string {
  const [secrets, versions, audit] = sqlite(path, [
    { sql: 'SELECT * FROM secrets ORDER BY rowid' },
    { sql: 'SELECT * FROM versions ORDER BY rowid' },
    { sql: 'SELECT * FROM audit ORDER BY rowid' },
  ]);
  return JSON.stringify({ secrets, versions, audit });
}

/** Every stored ciphertext and wrapped key, hex, keyed by row. */
export function keyMaterial(path: string): { versions: Map<string, string>; slots: Map<string, string>; auditKey: string } {
  const versions = new Map<string, string>();
  for (const r of sql(path, 'SELECT secret_id, version, hex(nonce) AS n, hex(ciphertext) AS c FROM versions')) {
    versions.set(`${r.secret_id}/${r.version}`, `${r.n}:${r.c}`);
  }
  const slots = new Map<string, string>();
  for (const r of sql(path, 'SELECT id, hex(nonce) AS n, hex(wrapped_key) AS w, hex(ephemeral_key) AS e, hex(pending) AS p FROM slots')) {
    slots.set(String(r.id), `${r.n}:${r.w}:${r.e}:${r.p}`);
  }
  const audit = sql(path, `SELECT value FROM meta WHERE key = 'audit_keys'`)[0];
  return { versions, slots, auditKey: String(audit?.value) };
}
