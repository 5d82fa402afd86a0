import * as threads from 'node:worker_threads';
import { parsePgLocation } from './location.js';
import { leaveEarly, startThread } from './thread.js';

/**
 * The early connection (bundled alone as dist/cli/pg-early.cjs): bin/vault.js calls start()
 * when the vault it will open is a `postgres://` URL, before it loads the CLI bundle, so the
 * worker thread boots, loads `pg` and connects on the other core while this one loads and
 * compiles the CLI. PgStore adopts the connection when it opens the same URL (bridge.ts
 * SyncPg.connect) and gets its answer then: a failure is reported exactly as a connection
 * made at that point. A command that opens no vault leaves it unused: the worker and its
 * port are unref'd, nothing waits for them.
 *
 * Never throws: a location the store would refuse (a bad vault name) starts nothing, and the
 * store reports it as it always does.
 */
export function start(location: string): void {
  try {
    const { connection } = parsePgLocation(location);
    leaveEarly({ connection, thread: startThread(threads, new URL('./pg-worker.cjs', import.meta.url), { op: 'connect', url: connection }) });
  } catch {
    // the store starts its own connection and reports what goes wrong
  }
}
