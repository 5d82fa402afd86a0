#!/usr/bin/env node
// Writes dist/cli/NAME.cache for a bundle that runs in a worker thread (pg-worker: a
// PostgreSQL vault's connection, src/store/pg/worker.ts), as scripts/code-cache.js does for the
// CLI bundles: run by scripts/bundle.js right after the bundle is made, with its name and build
// id line, in a process of its own. The cache is made inside a worker thread, where the bundle
// runs: bin/vault.js's loadBundle compiles it as the worker's loader does
// (src/store/pg/thread.ts), its top level runs with a port that no one writes to (so it waits
// for a first request and connects nowhere), and the cache then holds its top level and what
// that compiled: `pg` and its dependencies as they load. The functions a connection runs later
// compile when first called, as without a cache.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel, Worker } from 'node:worker_threads';

const [name, idLine] = process.argv.slice(2);
if (!/^[a-z][a-z-]*$/.test(name ?? '') || !/^\/\/# vaultBuild=[0-9a-f]+$/.test(idLine ?? '')) {
  throw new Error('usage: node scripts/code-cache-worker.js NAME "//# vaultBuild=ID" (run by scripts/bundle.js)');
}
const launcher = fileURLToPath(new URL('../bin/vault.js', import.meta.url));
const { port1, port2 } = new MessageChannel();
const code =
  `const { script } = require(${JSON.stringify(launcher)}).loadBundle(false, ${JSON.stringify(name)});\n` +
  `require('node:worker_threads').parentPort.postMessage(script.createCachedData());\n`;
const worker = new Worker(code, { eval: true, workerData: { port: port2, flag: new SharedArrayBuffer(4) }, transferList: [port2] });
const data = await new Promise((resolve, reject) => {
  worker.once('message', resolve);
  worker.once('error', reject);
  worker.once('exit', (status) => reject(new Error(`the ${name} worker exited (${status}) before sending its code cache`)));
});
await worker.terminate();
port1.close();
writeFileSync(fileURLToPath(new URL(`../dist/cli/${name}.cache`, import.meta.url)), Buffer.concat([Buffer.from(`${idLine}\n`, 'latin1'), Buffer.from(data)]));
