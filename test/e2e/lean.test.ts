import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { freshVault, ROOT, runCommand, BIN } from '../helpers/cli.js';

/** Modules that `vault get` in a script has no use for: each costs start-up time (the MCP SDK and its zod and ajv too). */
const HEAVY = ['@inquirer', 'cli-table3', '@napi-rs/keyring', 'chalk', '@modelcontextprotocol', 'zod', 'ajv'];

/**
 * Node built-ins `vault get` has no use for. commander requires node:child_process at load
 * time (for executable subcommands, which vault has none of); the bundle stubs it
 * (scripts/bundle.js), and with it go net's datagram and readline parts.
 */
const UNUSED_BUILTINS = ['child_process', 'internal/child_process', 'dgram', 'internal/dgram', 'readline', 'http', 'https', 'zlib', 'tls', 'worker_threads', 'vm'];

test('vault get in a script loads no prompt, table, keychain or colour module', async () => {
  const v = await freshVault();
  try {
    const put = await runCommand(process.execPath, [BIN, 'put', 'TOKEN'], { env: v.env, input: 'abc123\n' });
    assert.equal(put.status, 0, put.stderr);
    const trace = join(v.dir, 'imports.txt');
    const get = await runCommand(process.execPath, ['--import', join(ROOT, 'test', 'fixtures', 'trace-imports.mjs'), BIN, 'get', 'TOKEN'], {
      env: { ...v.env, TRACE_IMPORTS_FILE: trace },
    });
    assert.equal(get.status, 0, get.stderr);
    assert.equal(get.out, 'abc123');
    const loaded = readFileSync(trace, 'utf8').split('\n').filter(Boolean);
    assert.ok(loaded.some((u) => u.endsWith('/bin/vault.js')), 'the trace saw the program start');
    assert.deepEqual(loaded.filter((u) => HEAVY.some((h) => u.includes(`/node_modules/${h}`))), []);
  } finally {
    v.cleanup();
  }
});

test('vault get loads one bundle, better-sqlite3 and its addon by path, and no built-in it does not use', async () => {
  const v = await freshVault();
  try {
    const put = await runCommand(process.execPath, [BIN, 'put', 'TOKEN'], { env: v.env, input: 'abc123\n' });
    assert.equal(put.status, 0, put.stderr);
    const trace = join(v.dir, 'require.txt');
    const get = await runCommand(process.execPath, ['--require', join(ROOT, 'test', 'fixtures', 'trace-require.cjs'), BIN, 'get', 'TOKEN'], {
      env: { ...v.env, TRACE_REQUIRE_FILE: trace },
    });
    assert.equal(get.status, 0, get.stderr);
    assert.equal(get.out, 'abc123');
    const loaded = readFileSync(trace, 'utf8').split('\n').filter(Boolean);
    const files = loaded.filter((l) => !l.startsWith('builtin:'));
    const builtins = new Set(loaded.filter((l) => l.startsWith('builtin:')).map((l) => l.slice('builtin:'.length)));
    // The trace itself, the launcher, the one bundle (commander and every vault module in it).
    assert.deepEqual(files.filter((f) => !f.includes('/node_modules/')), [join(ROOT, 'test', 'fixtures', 'trace-require.cjs'), BIN, join(ROOT, 'dist', 'cli', 'main.cjs')]);
    // From node_modules: better-sqlite3's own files and its addon, loaded by path (no `bindings` search).
    const deps = files.filter((f) => f.includes('/node_modules/')).map((f) => f.slice(f.lastIndexOf('/node_modules/') + '/node_modules/'.length));
    assert.deepEqual(deps.filter((d) => !/^better-sqlite3\/lib\/[a-z/-]+\.js$/.test(d)), ['better-sqlite3/build/Release/better_sqlite3.node']);
    assert.ok(builtins.has('crypto') && builtins.has('fs'), 'the trace saw the built-ins vault uses');
    assert.deepEqual(UNUSED_BUILTINS.filter((b) => builtins.has(b)), []);
  } finally {
    v.cleanup();
  }
});
