import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { MessagePort, Worker } from 'node:worker_threads';
import { VaultError } from '../../core/errors.js';
import type { Reply, Request, Statement } from './worker.js';

/** The longest a request may take before the server is taken as unreachable. */
const REPLY_TIMEOUT_MS = 120_000;

/**
 * node:worker_threads when a PostgreSQL vault is opened, never before: the CLI is one bundle,
 * and `vault get` on a file must not load what it does not use (test/e2e/lean.test.ts).
 */
let loaded: typeof import('node:worker_threads') | undefined;
function threads(): typeof import('node:worker_threads') {
  return (loaded ??= createRequire(import.meta.url)('node:worker_threads') as typeof import('node:worker_threads'));
}

/**
 * A synchronous PostgreSQL connection: the worker (worker.ts) owns the `pg` client; this side
 * posts a request on a MessagePort, blocks with Atomics.wait until the worker flags its reply,
 * and takes the reply with receiveMessageOnPort (no event loop turn is needed). The vault core
 * stays synchronous, as it is over better-sqlite3.
 */
export class SyncPg {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly flag = new Int32Array(new SharedArrayBuffer(4));
  private closed = false;

  constructor(readonly display: string) {
    const { MessageChannel, Worker } = threads();
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(workerFile(), { workerData: { port: port2, flag: this.flag.buffer }, transferList: [port2] });
    // Neither the worker nor its port may keep a finished command alive.
    this.worker.unref();
    this.port.unref();
  }

  connect(url: string): void {
    this.call({ op: 'connect', url });
  }

  /** Runs the statements in order on the one connection; the rows of each. */
  run(statements: Statement[]): Array<Record<string, unknown>>[] {
    return this.call({ op: 'run', statements });
  }

  close(): void {
    if (this.closed) return;
    try {
      this.call({ op: 'close' }, 5_000);
    } catch {
      // closing a connection that is gone
    }
    this.closed = true;
    void this.worker.terminate();
  }

  private call(req: Request, timeout = REPLY_TIMEOUT_MS): Array<Record<string, unknown>>[] {
    if (this.closed) throw new VaultError('error', 'the connection to the vault server is closed');
    Atomics.store(this.flag, 0, 0);
    this.port.postMessage(req);
    const deadline = Date.now() + timeout;
    let msg: { message: Reply } | undefined;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      Atomics.wait(this.flag, 0, 0, Math.min(left, 1000));
      msg = threads().receiveMessageOnPort(this.port) as { message: Reply } | undefined;
      if (msg) break;
    }
    if (!msg) throw unreachable(this.display, 'no answer');
    const reply = msg.message;
    if (reply.ok) return reply.rows.map((rows) => rows.map(fromWorker));
    if (reply.error.unreachable) throw unreachable(this.display, reply.error.message);
    throw new PgError(reply.error.message, reply.error.code);
  }
}

/** An error the server returned for a statement (not a connection failure). */
export class PgError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

export function unreachable(display: string, reason: string): VaultError {
  return new VaultError('error', `cannot reach the vault server at ${display}: ${reason}`, {
    hint: 'check that the server is running and reachable; nothing was changed by this command unless it said so',
    details: { server: 'unreachable' },
  });
}

/** Bytea values cross the thread boundary as Uint8Array: Buffers again here. */
function fromWorker(row: Record<string, unknown>): Record<string, unknown> {
  for (const k of Object.keys(row)) {
    const v = row[k];
    if (v instanceof Uint8Array && !Buffer.isBuffer(v)) row[k] = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  }
  return row;
}

/**
 * worker.js beside this module (dist/src/store/pg) or, from the bundled CLI (dist/cli), the
 * same file under dist/src: the worker is not bundled, it imports `pg` from node_modules.
 */
function workerFile(): URL {
  const candidates = [new URL('./worker.js', import.meta.url), new URL('../src/store/pg/worker.js', import.meta.url)];
  for (const c of candidates) if (existsSync(fileURLToPath(c))) return c;
  throw new VaultError('error', 'the PostgreSQL worker of vault is missing from this installation');
}
