#!/usr/bin/env node
// Runs every compiled test file with node's test runner. Test files are found here rather
// than by a glob so the same command works on every Node >= 20.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const only = process.argv.slice(2);

function find(dir) {
  let files = [];
  for (const entry of readdirSync(dir)) {
    const p = join(dir, entry);
    if (statSync(p).isDirectory()) files = files.concat(find(p));
    else if (p.endsWith('.test.js')) files.push(p);
  }
  return files;
}

let files = find(join(root, 'dist', 'test')).sort();
if (only.length > 0) files = files.filter((f) => only.some((o) => f.includes(o)));
// Rollback anchors (src/store/anchor.ts) written by the tests go to a directory of this run,
// not into the developer's ~/.local/state.
const state = mkdtempSync(join(tmpdir(), 'vault-test-state-'));
// Session agents (vault unlock) of tests that do not pick their own directory go to a private
// runtime directory of this run (mkdtemp makes it 0700), not the developer's XDG_RUNTIME_DIR.
const runtime = mkdtempSync(join(tmpdir(), 'vault-test-run-'));
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...files], { stdio: 'inherit', env: { ...process.env, XDG_STATE_HOME: state, XDG_RUNTIME_DIR: runtime } });
rmSync(state, { recursive: true, force: true });
rmSync(runtime, { recursive: true, force: true });
process.exit(r.status ?? 1);
