import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { VaultError } from '../../core/errors.js';
import { startThread, takeEarly, type PgThread } from './thread.js';
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
 * Worker threads whose connection was closed cleanly, kept for this process's next connect:
 * starting a worker thread takes about 50 ms, and a long-lived process (vault mcp, a program
 * using the library, the tests) opens vaults again and again. An idle worker holds no
 * connection and no key, and keeps no process alive (startThread unrefs it and its port).
 */
const idle: PgThread[] = [];
const IDLE_MAX = 2;

/** @internal The thread ids of the idle workers, oldest first (for the tests). */
export function idleWorkers(): number[] {
  return idle.map((t) => t.worker.threadId);
}

/**
 * A synchronous PostgreSQL connection: the worker (worker.ts) owns the `pg` client; this side
 * posts a request on a MessagePort, blocks with Atomics.wait until the worker flags its reply,
 * and takes the reply with receiveMessageOnPort (no event loop turn is needed). The vault core
 * stays synchronous, as it is over better-sqlite3.
 */
export class SyncPg {
  private thread: PgThread | undefined;
  private closed = false;

  constructor(readonly display: string) {}

  /**
   * Connects to `url`: adopts the connection the launcher started for the same URL while the
   * CLI bundle loaded (early.ts), waiting for its answer, or starts a worker now.
   */
  connect(url: string): void {
    const early = takeEarly(url);
    if (early) {
      this.thread = early.thread;
      this.reply(REPLY_TIMEOUT_MS);
      return;
    }
    const reused = idle.pop();
    if (reused) {
      this.thread = reused;
      this.call({ op: 'connect', url });
      return;
    }
    this.thread = startThread(threads(), workerFile(), { op: 'connect', url });
    this.reply(REPLY_TIMEOUT_MS);
  }

  /** Runs the statements in order on the one connection; the rows of each. */
  run(statements: Statement[]): Array<Record<string, unknown>>[] {
    return this.call({ op: 'run', statements });
  }

  close(): void {
    if (this.closed) return;
    if (this.thread) {
      let clean = false;
      try {
        this.call({ op: 'close' }, 5_000);
        clean = true;
      } catch {
        // closing a connection that is gone
      }
      if (clean && idle.length < IDLE_MAX) idle.push(this.thread);
      else void this.thread.worker.terminate();
    }
    this.closed = true;
  }

  private call(req: Request, timeout = REPLY_TIMEOUT_MS): Array<Record<string, unknown>>[] {
    if (this.closed || !this.thread) throw new VaultError('error', 'the connection to the vault server is closed');
    Atomics.store(this.thread.flag, 0, 0);
    this.thread.port.postMessage(req);
    return this.reply(timeout);
  }

  /** Waits for the answer to the request posted last. */
  private reply(timeout: number): Array<Record<string, unknown>>[] {
    const { flag, port } = this.thread!;
    const deadline = Date.now() + timeout;
    let msg: { message: Reply } | undefined;
    for (;;) {
      msg = threads().receiveMessageOnPort(port) as { message: Reply } | undefined;
      if (msg) break;
      const left = deadline - Date.now();
      if (left <= 0) break;
      Atomics.wait(flag, 0, 0, Math.min(left, 1000));
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
 * The worker's code: dist/cli/pg-worker.cjs, one small bundle with `pg` in it (scripts/bundle.js),
 * beside the CLI bundle or, from the library (dist/src/store/pg), two levels up; else the
 * unbundled worker.js beside this module, which imports `pg` from node_modules.
 */
function workerFile(): URL {
  const candidates = [
    new URL('./pg-worker.cjs', import.meta.url),
    new URL('../../../cli/pg-worker.cjs', import.meta.url),
    new URL('./worker.js', import.meta.url),
    new URL('../src/store/pg/worker.js', import.meta.url),
  ];
  for (const c of candidates) if (existsSync(fileURLToPath(c))) return c;
  throw new VaultError('error', 'the PostgreSQL worker of vault is missing from this installation');
}
