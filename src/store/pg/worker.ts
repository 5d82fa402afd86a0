import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import pg from 'pg';

/**
 * The worker thread that owns the PostgreSQL connection of a PgStore (src/store/pg/bridge.ts
 * has the other half). The main thread blocks on `flag` while this thread runs a request and
 * posts the reply; every reply, a failure too, is data, so the main thread never waits on a
 * thread that threw. `pg` is imported here only: a file vault never starts this worker.
 */

export interface Statement {
  sql: string;
  params?: unknown[];
}

export type Request =
  | { op: 'connect'; url: string }
  | { op: 'run'; statements: Statement[] }
  | { op: 'close' };

export type Reply =
  | { ok: true; rows: Array<Record<string, unknown>>[] }
  | { ok: false; error: { message: string; code?: string; unreachable: boolean } };

// bigint columns (times, seqs, ids, counts) as JS numbers: every value the vault stores fits in 2^53.
pg.types.setTypeParser(20, (v: string) => Number(v));

const { port, flag } = workerData as { port: MessagePort; flag: SharedArrayBuffer };
const signal = new Int32Array(flag);
let client: pg.Client | null = null;
let broken: Error | null = null;
let url = '';

/** Connection-level failures: the server stopped, went away, refused or could not be found. */
function unreachable(e: unknown): boolean {
  const code = (e as { code?: string }).code ?? '';
  const message = (e as Error).message ?? '';
  return (
    ['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND', '57P01', '57P02', '57P03'].includes(code) ||
    code.startsWith('08') ||
    /Connection terminated|connection is closed|not queryable|timeout expired|Client has encountered a connection error/i.test(message)
  );
}

async function connect(): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000, application_name: 'vault', pipeline: true });
  c.on('error', (e) => {
    broken = e;
  });
  await c.connect();
  broken = null;
  return c;
}

async function handle(req: Request): Promise<Reply> {
  try {
    if (req.op === 'connect') {
      url = req.url;
      client = await connect();
      return { ok: true, rows: [] };
    }
    if (req.op === 'close') {
      const c = client;
      client = null;
      await c?.end().catch(() => undefined);
      return { ok: true, rows: [] };
    }
    if (!client) throw Object.assign(new Error('not connected'), { code: '08003' });
    if (broken) throw broken;
    // Pipelined: every statement of the request goes out at once, each with its own Sync, and
    // the answers come back in order, one round trip to the server for the lot. A statement
    // that fails inside a transaction aborts it, so the ones after it fail too (and a COMMIT
    // after it rolls back); the first failure is the answer.
    const c = client;
    const sent = req.statements.map((st) => c.query(st.params === undefined ? st.sql : { text: st.sql, values: st.params.map(toPg) }));
    const settled = await Promise.allSettled(sent);
    const out: Array<Record<string, unknown>>[] = [];
    for (const r of settled) {
      if (r.status === 'rejected') throw r.reason;
      // A multi-statement text returns one result per statement; the last one counts.
      const last = Array.isArray(r.value) ? r.value[r.value.length - 1] : r.value;
      out.push((last as pg.QueryResult | undefined)?.rows ?? []);
    }
    return { ok: true, rows: out };
  } catch (e) {
    const down = unreachable(e) || broken !== null;
    if (down && client) {
      // The connection is gone: a later request (a new transaction) starts from a new one.
      const c = client;
      client = null;
      c.end().catch(() => undefined);
      reconnectNext = true;
    }
    return { ok: false, error: { message: (e as Error).message ?? String(e), code: (e as { code?: string }).code, unreachable: down } };
  }
}

let reconnectNext = false;

/** Buffers arrive as Uint8Array after crossing threads; pg wants Buffers for bytea. */
function toPg(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(toPg);
  return v instanceof Uint8Array && !Buffer.isBuffer(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : v;
}

let queue: Promise<void> = Promise.resolve();
port.on('message', (req: Request) => {
  queue = queue.then(async () => {
    if (req.op === 'run' && !client && reconnectNext && req.statements[0]?.sql.startsWith('BEGIN')) {
      // The server restarted between transactions: reconnect transparently.
      try {
        client = await connect();
        reconnectNext = false;
      } catch {
        // reported by handle() below as unreachable
      }
    }
    const reply = await handle(req);
    port.postMessage(reply);
    Atomics.store(signal, 0, 1);
    Atomics.notify(signal, 0);
  });
});
parentPort?.on('message', () => undefined);
