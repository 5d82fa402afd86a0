#!/usr/bin/env node
// Runs every compiled test file with node's test runner, three at a time on two cores: several
// files spend seconds waiting (terminals, D-Bus timeouts, a reader that sleeps), and a third
// file uses that time. Test files are found here rather than by a glob so the same command
// works on every Node >= 20.
//
// Longest files first (test/timings.json, seconds per file as measured by `--timings`): node
// starts the files in the order given, so the workers finish together instead of one
// running the slowest file alone at the end. A file not in the list (a new one) goes first.
//
//   node scripts/test.js [WORD...]            only the files whose path contains a word
//   node scripts/test.js --timings [WORD...]  also rewrites test/timings.json from this run
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const dist = join(root, 'dist', 'test');
const timingsFile = join(root, 'test', 'timings.json');
const args = process.argv.slice(2);
const record = args.includes('--timings');
const only = args.filter((a) => a !== '--timings');

function find(dir) {
  let files = [];
  for (const entry of readdirSync(dir)) {
    const p = join(dir, entry);
    if (statSync(p).isDirectory()) files = files.concat(find(p));
    else if (p.endsWith('.test.js')) files.push(p);
  }
  return files;
}

const timings = existsSync(timingsFile) ? JSON.parse(readFileSync(timingsFile, 'utf8')) : {};
const cost = (f) => timings[relative(dist, f)] ?? Infinity;
let files = find(dist).sort();
if (only.length > 0) files = files.filter((f) => only.some((o) => f.includes(o)));
files.sort((a, b) => cost(b) - cost(a) || (a < b ? -1 : 1));

// Rollback anchors (src/store/anchor.ts) written by the tests go to a directory of this run,
// not into the developer's ~/.local/state.
const state = mkdtempSync(join(tmpdir(), 'vault-test-state-'));
// Session agents (vault unlock) of tests that do not pick their own directory go to a private
// runtime directory of this run (mkdtemp makes it 0700), not the developer's XDG_RUNTIME_DIR.
const runtime = mkdtempSync(join(tmpdir(), 'vault-test-run-'));
// What the test files of this run share (VAULT_TEST_SHARED): the PostgreSQL cluster made once
// by initdb and copied per file (test/helpers/pg.ts). Searchable by others (0711, nothing
// listable) because the cluster runs as the `postgres` user when the tests run as root.
const shared = mkdtempSync(join(tmpdir(), 'vault-test-shared-'));
chmodSync(shared, 0o711);

const reporters = record
  ? ['--test-reporter', process.stdout.isTTY ? 'spec' : 'tap', '--test-reporter-destination', 'stdout', '--test-reporter', join(root, 'scripts', 'timings-reporter.js'), '--test-reporter-destination', join(shared, 'timings.json')]
  : [];
// Node reads NODE_EXTRA_CA_CERTS at every start (about 50 ms of CPU here, in each of the
// hundreds of node processes a run starts); nothing in the tests talks TLS to the outside but
// pack.test's npm, which gets the file back from VAULT_TEST_CA_CERTS.
const { NODE_EXTRA_CA_CERTS: extraCa, ...inherited } = process.env;
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=3', ...reporters, ...files], {
  stdio: 'inherit',
  env: { ...inherited, ...(extraCa ? { VAULT_TEST_CA_CERTS: extraCa } : {}), XDG_STATE_HOME: state, XDG_RUNTIME_DIR: runtime, VAULT_TEST_SHARED: shared },
});
if (record && existsSync(join(shared, 'timings.json'))) {
  // Merged into the list: a run of some files keeps the figures of the others.
  const measured = JSON.parse(readFileSync(join(shared, 'timings.json'), 'utf8'));
  for (const [file, seconds] of Object.entries(measured)) timings[relative(dist, file)] = seconds;
  const sorted = Object.fromEntries(Object.entries(timings).sort(([a], [b]) => (a < b ? -1 : 1)));
  writeFileSync(timingsFile, JSON.stringify(sorted, null, 2) + '\n');
}
rmSync(state, { recursive: true, force: true });
rmSync(runtime, { recursive: true, force: true });
rmSync(shared, { recursive: true, force: true });
process.exit(r.status ?? 1);
