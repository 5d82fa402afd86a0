import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MessagePort, Worker } from 'node:worker_threads';
import { SECRET_VARIABLES } from '../../unlock/variables.js';
import type { Request } from './worker.js';

/**
 * The worker thread of a PostgreSQL vault (worker.ts), started by the bridge (bridge.ts) or,
 * earlier, by the launcher (early.ts): its MessagePort and the flag the main thread waits on.
 */
export interface PgThread {
  worker: Worker;
  port: MessagePort;
  flag: Int32Array;
}

/**
 * Starts the worker at `file` and posts `first` (the connect request) at once. The worker gets
 * an environment without the variables that unlock a vault: it needs only PG* and HOME (for
 * ~/.pgpass), and when the launcher starts it early, process.env still holds them (the
 * launcher takes them out just after, see bin/vault.js). Neither the worker nor its port keeps
 * a finished command alive.
 */
export function startThread(threads: typeof import('node:worker_threads'), file: URL | string, first: Request): PgThread {
  const { MessageChannel, Worker } = threads;
  const { port1, port2 } = new MessageChannel();
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !SECRET_VARIABLES.includes(k)) env[k] = v;
  const options = { workerData: { port: port2, flag: flag.buffer }, transferList: [port2], env };
  const loader = bundleLoader(file);
  const worker = loader === undefined ? new Worker(file, options) : new Worker(loader, { ...options, eval: true });
  worker.unref();
  port1.unref();
  port1.postMessage(first);
  return { worker, port: port1, flag };
}

/**
 * For a bundle of the CLI's (dist/cli/NAME.cjs, with bin/vault.js two levels up): the worker's
 * code, which loads it as the launcher loads the CLI bundles, with the code cache the build
 * made for it (scripts/code-cache-worker.js; V8 refuses a cache of another build or V8). Else
 * undefined: the worker runs the file itself (the library's unbundled worker.js).
 */
function bundleLoader(file: URL | string): string | undefined {
  const path = typeof file === 'string' ? file : fileURLToPath(file);
  const bundle = /[\\/]dist[\\/]cli[\\/]([a-z][a-z-]*)\.cjs$/.exec(path);
  if (bundle === null) return undefined;
  const launcher = join(dirname(path), '..', '..', 'bin', 'vault.js');
  return existsSync(launcher) ? `require(${JSON.stringify(launcher)}).loadBundle(true, ${JSON.stringify(bundle[1])});` : undefined;
}

/** A connection the launcher started before the CLI bundle loaded, for the store to adopt. */
export interface EarlyConnection {
  /** the connection string it was started with (PgLocation.connection) */
  connection: string;
  thread: PgThread;
}

/**
 * Where the launcher leaves the early connection. The launcher's code (dist/cli/pg-early.cjs)
 * and the store's (dist/cli/main.cjs, or a command's own bundle) are separate bundles with separate module state, so the
 * hand-over is one global slot, taken at most once.
 */
const SLOT = Symbol.for('vault.pg.early');

export function leaveEarly(early: EarlyConnection): void {
  (globalThis as Record<symbol, unknown>)[SLOT] = early;
}

/** The early connection when it was started for `connection` (then no one else can take it); else undefined. */
export function takeEarly(connection: string): EarlyConnection | undefined {
  const g = globalThis as Record<symbol, unknown>;
  const early = g[SLOT] as EarlyConnection | undefined;
  if (early === undefined) return undefined;
  delete g[SLOT];
  if (early.connection === connection) return early;
  // Started for another location (an argv the launcher read differently): not ours to use.
  void early.thread.worker.terminate();
  return undefined;
}
