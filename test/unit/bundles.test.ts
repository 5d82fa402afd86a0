import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { test } from 'node:test';
import { MessageChannel, Worker } from 'node:worker_threads';
import { buildProgram, findCommand } from '../../src/cli/program.js';
import type { IO } from '../../src/cli/io.js';
import { baseEnv, BIN, ROOT } from '../helpers/cli.js';
import { cheapVault } from '../helpers/vaults.js';

// `vault get`, `list` and `exec` load a bundle of their own (dist/cli/NAME.cjs: only the code
// that command reaches; scripts/bundle.js), any other command the whole CLI (main.cjs). The
// launcher picks by the command word. These hold the launcher's choice to the CLI's own
// reading of argv, and each command's bundle to main.cjs's output for that command.

const launcher = createRequire(import.meta.url)(BIN) as {
  bundleFor: (argv: string[]) => string;
  loadBundle: (useCache: boolean, name: string) => { exports: { run: (argv: string[], io: IO) => Promise<number> }; file: string };
};

const OWN: Record<string, string> = { get: 'get', list: 'list', ls: 'list', exec: 'exec', run: 'exec', env: 'env', export: 'env' };

test('the launcher finds the command word where the CLI does, and picks its bundle', () => {
  // Nothing is printed: the IO is only held by commander's output functions.
  const program = buildProgram({ env: {} } as IO);
  // The global options that take a value: the launcher skips exactly these (and their value).
  const takesValue = program.options.filter((o) => o.required || o.optional).map((o) => o.long);
  assert.deepEqual(takesValue, ['--vault', '--ns']);
  const cases: string[][] = [
    [], ['get', 'A'], ['ls'], ['run', '--', 'get'], ['exec', '--', 'list'], ['--json', 'get', 'A'], ['--vault', 'get', 'list'],
    ['--ns', 'ls', 'exec'], ['--vault=x', 'get', 'A'], ['--ns=get', 'list'], ['--', 'get'], ['--quiet', '--', 'list'],
    ['put', 'get'], ['help', 'get'], ['getx'], ['--no-color', '--debug', 'exec', '--', 'true'], ['--vault'], ['-x', 'list'],
    ['__complete', 'get'], ['completion'], ['constructor'], ['toString'], ['history', 'A'], ['env'], ['--ns', 'env', 'export'], ['export', '--format', 'json'], ['exports'],
  ];
  for (const argv of cases) {
    const at = findCommand(program, argv);
    const word = at === -1 ? undefined : argv[at];
    const expected = word !== undefined && Object.hasOwn(OWN, word) ? OWN[word] : 'main';
    assert.equal(launcher.bundleFor(argv), expected, JSON.stringify(argv));
  }
});

test('the build made exactly these bundles, each with its code cache', () => {
  const files = readdirSync(join(ROOT, 'dist', 'cli')).filter((f) => /\.(cjs|cache)$/.test(f) && !f.startsWith('pg-')).sort();
  assert.deepEqual(files, ['env.cache', 'env.cjs', 'exec.cache', 'exec.cjs', 'get.cache', 'get.cjs', 'list.cache', 'list.cjs', 'main.cache', 'main.cjs']);
});

test('the PostgreSQL worker\'s bundle has a code cache of its build, which V8 takes in a worker thread, as the worker loads it', async () => {
  const cache = readFileSync(join(ROOT, 'dist', 'cli', 'pg-worker.cache'));
  const bundle = readFileSync(join(ROOT, 'dist', 'cli', 'pg-worker.cjs'), 'latin1');
  assert.ok(bundle.endsWith(`\n${cache.toString('latin1', 0, cache.indexOf(10))}\n`), 'the cache names the build that ends the bundle');
  const { port1, port2 } = new MessageChannel();
  // What src/store/pg/thread.ts starts, with a port no one writes to: the worker waits for a first request.
  const code = `const r = require(${JSON.stringify(join(ROOT, 'bin', 'vault.js'))}).loadBundle(true, "pg-worker"); require('node:worker_threads').parentPort.postMessage(r.script.cachedDataRejected);`;
  const worker = new Worker(code, { eval: true, workerData: { port: port2, flag: new SharedArrayBuffer(4) }, transferList: [port2] });
  try {
    const rejected = await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    assert.equal(rejected, false);
  } finally {
    await worker.terminate();
    port1.close();
  }
});

function sink(chunks: Buffer[]): Writable & { isTTY: boolean } {
  return Object.assign(new Writable({ write(c, _e, cb) { chunks.push(Buffer.from(c)); cb(); } }), { isTTY: false });
}

async function runIn(bundle: { run: (argv: string[], io: IO) => Promise<number> }, argv: string[], env: Record<string, string>, input?: string): Promise<{ status: number; out: string; err: string }> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const stdin = Object.assign(Readable.from(input === undefined ? [] : [Buffer.from(input)]), { isTTY: false });
  const status = await bundle.run(argv, { stdin, stdout: sink(out), stderr: sink(err), env });
  return { status, out: Buffer.concat(out).toString(), err: Buffer.concat(err).toString() };
}

test('each command\'s own bundle answers as main.cjs does: values, help, usage errors, refusals', async () => {
  const v = await cheapVault();
  try {
    const env = { ...baseEnv(v.dir), ...v.env };
    const main = launcher.loadBundle(true, 'main').exports;
    const put = await runIn(main, ['put', 'TOKEN', '--description', 'a token'], env, 's3cret-value\n');
    assert.equal(put.status, 0, put.err);
    const own = {
      get: launcher.loadBundle(true, 'get').exports, list: launcher.loadBundle(true, 'list').exports,
      exec: launcher.loadBundle(true, 'exec').exports, env: launcher.loadBundle(true, 'env').exports,
    };
    const cases: string[][] = [
      ['get', 'TOKEN'], ['get', '--json', 'TOKEN'], ['--json', 'get', 'TOKEN'], ['get', 'TOKEN', '--version', '1'], ['get', 'NOPE'], ['get', 'tokn'],
      ['get'], ['get', 'TOKEN', '--bogus'], ['get', '--help'], ['--vault', join(v.dir, 'none.db'), 'get', 'TOKEN'], ['get', 'TOKEN', 'extra'],
      ['list'], ['ls', '--json'], ['list', '--all-ns'], ['list', '--help'], ['list', 'extra'], ['--ns', 'Bad/ns', 'list'],
      ['exec', '--', 'true'], ['run', '--', 'sh', '-c', 'exit 3'], ['exec'], ['exec', '--only', 'NOPE', '--', 'true'], ['run', '--help'], ['exec', '--bogus', '--', 'true'],
      ['env'], ['env', '--format', 'shell'], ['--json', 'env'], ['env', '--only', 'NOPE'], ['env', '--format', 'xml'], ['export'], ['export', '--format', 'json', '--prefix', 'TO'], ['export', '--help'], ['export', 'extra'],
    ];
    for (const argv of cases) {
      const name = launcher.bundleFor(argv) as keyof typeof own;
      assert.notEqual(name, 'main', JSON.stringify(argv));
      const expected = await runIn(main, argv, env);
      const got = await runIn(own[name], argv, env);
      assert.deepEqual(got, expected, JSON.stringify(argv));
    }
    // The value itself, so that equal outputs are not two equal failures.
    assert.deepEqual(await runIn(own.get, ['get', 'TOKEN'], env), { status: 0, out: 's3cret-value', err: '' });
    assert.deepEqual(await runIn(own.env, ['export', '--format', 'json'], env), { status: 0, out: '{"TOKEN":"s3cret-value"}\n', err: '' });
  } finally {
    v.cleanup();
  }
});
