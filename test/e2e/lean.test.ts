import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BIN, freshVault, ROOT, runCommand, tempDir } from '../helpers/cli.js';

/** Modules that `vault get` in a script has no use for: each costs start-up time (the MCP SDK and its zod and ajv too). */
const HEAVY = ['@inquirer', 'cli-table3', '@napi-rs/keyring', 'chalk', '@modelcontextprotocol', 'zod', 'ajv'];

/**
 * Node built-ins `vault get` has no use for. commander requires node:child_process at load
 * time (for executable subcommands, which vault has none of); the bundle stubs it
 * (scripts/bundle.js), and with it go net's datagram and readline parts. node:module (which
 * loads node's ES module loader) is needed by neither the launcher nor the bundle.
 */
const UNUSED_BUILTINS = ['child_process', 'internal/child_process', 'dgram', 'internal/dgram', 'readline', 'http', 'https', 'zlib', 'tls', 'worker_threads', 'module'];

/**
 * What node loads to make a stream for stdout, stdin or stderr: a pipe's is a net.Socket, a
 * terminal's a tty.WriteStream, a file's a SyncWriteStream (~5 ms). `vault get` in a script
 * makes none: it writes its value with write(2) (src/cli/io.ts, directStdout).
 */
const STREAM_BUILTINS = ['net', 'tty', 'internal/fs/sync_write_stream'];

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

test('vault get loads its own bundle, compiled from its code cache, better-sqlite3\'s addon by path, and no built-in it does not use', async () => {
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
    // get's own bundle (only the code get reaches; scripts/bundle.js), compiled once, and V8
    // took the code cache the build made for it.
    const bundle = join(ROOT, 'dist', 'cli', 'get.cjs');
    assert.deepEqual(loaded.filter((l) => l.startsWith('compiled:')), [`compiled:${bundle} cache=accepted`]);
    const files = loaded.filter((l) => !l.startsWith('builtin:') && !l.startsWith('compiled:'));
    const builtins = new Set(loaded.filter((l) => l.startsWith('builtin:')).map((l) => l.slice('builtin:'.length)));
    // The trace itself, the launcher, the one bundle (commander, better-sqlite3's JavaScript and every vault module get uses).
    assert.deepEqual(files.filter((f) => !f.includes('/node_modules/')), [join(ROOT, 'test', 'fixtures', 'trace-require.cjs'), BIN, bundle]);
    // From node_modules: better-sqlite3's addon only, loaded by path (no `bindings` search).
    const deps = files.filter((f) => f.includes('/node_modules/')).map((f) => f.slice(f.lastIndexOf('/node_modules/') + '/node_modules/'.length));
    assert.deepEqual(deps, ['better-sqlite3/build/Release/better_sqlite3.node']);
    assert.ok(builtins.has('crypto') && builtins.has('fs'), 'the trace saw the built-ins vault uses');
    assert.deepEqual(UNUSED_BUILTINS.filter((b) => builtins.has(b)), []);
    assert.deepEqual(STREAM_BUILTINS.filter((b) => builtins.has(b)), []);
  } finally {
    v.cleanup();
  }
});

test('vault list, which reads no value, loads its own bundle and not node:crypto', async () => {
  const v = await freshVault();
  try {
    for (const name of ['B_TOKEN', 'A_TOKEN']) {
      const put = await runCommand(process.execPath, [BIN, 'put', name], { env: v.env, input: 'abc123\n' });
      assert.equal(put.status, 0, put.stderr);
    }
    const trace = join(v.dir, 'require.txt');
    const list = await runCommand(process.execPath, ['--require', join(ROOT, 'test', 'fixtures', 'trace-require.cjs'), BIN, 'list'], {
      env: { ...v.env, TRACE_REQUIRE_FILE: trace },
    });
    assert.equal(list.status, 0, list.stderr);
    assert.equal(list.out, 'A_TOKEN\nB_TOKEN\n');
    const loaded = readFileSync(trace, 'utf8').split('\n').filter(Boolean);
    assert.deepEqual(loaded.filter((l) => l.startsWith('compiled:')), [`compiled:${join(ROOT, 'dist', 'cli', 'list.cjs')} cache=accepted`]);
    const builtins = new Set(loaded.filter((l) => l.startsWith('builtin:')).map((l) => l.slice('builtin:'.length)));
    assert.ok(builtins.has('fs'), 'the trace saw the built-ins vault uses');
    // node:crypto (with the stream modules it loads: about 5 ms) is loaded on first use (the
    // bundle's lazy-crypto, scripts/bundle.js), and listing names uses none of it.
    assert.deepEqual(['crypto', 'stream', ...UNUSED_BUILTINS, ...STREAM_BUILTINS].filter((b) => builtins.has(b)), []);
  } finally {
    v.cleanup();
  }
});

test('a code cache that is not this build\'s, or that V8 refuses, costs a compile from source and nothing else', async () => {
  const v = await freshVault();
  const cache = readFileSync(join(ROOT, 'dist', 'cli', 'get.cache'));
  const eol = cache.indexOf(10);
  // Another build's id (one character changed): not offered to V8. Cut short: V8 refuses it.
  const otherBuild = Buffer.from(cache);
  otherBuild[eol - 1] = otherBuild[eol - 1] === 0x30 ? 0x31 : 0x30;
  const cut = cache.subarray(0, eol + 1 + Math.floor((cache.length - eol - 1) / 2));
  const put = await runCommand(process.execPath, [BIN, 'put', 'TOKEN'], { env: v.env, input: 'abc123\n' });
  assert.equal(put.status, 0, put.stderr);
  try {
    for (const [what, data, expected] of [['another build', otherBuild, 'none'], ['cut short', cut, 'rejected']] as const) {
      const { dir, cleanup } = tempDir();
      try {
        // A copy of the launcher and the bundle, with that cache beside it.
        mkdirSync(join(dir, 'bin'));
        mkdirSync(join(dir, 'dist', 'cli'), { recursive: true });
        copyFileSync(BIN, join(dir, 'bin', 'vault.js'));
        copyFileSync(join(ROOT, 'bin', 'package.json'), join(dir, 'bin', 'package.json'));
        copyFileSync(join(ROOT, 'dist', 'cli', 'get.cjs'), join(dir, 'dist', 'cli', 'get.cjs'));
        writeFileSync(join(dir, 'dist', 'cli', 'get.cache'), data);
        symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
        const trace = join(dir, 'require.txt');
        const get = await runCommand(process.execPath, ['--require', join(ROOT, 'test', 'fixtures', 'trace-require.cjs'), join(dir, 'bin', 'vault.js'), 'get', 'TOKEN'], {
          env: { ...v.env, TRACE_REQUIRE_FILE: trace },
        });
        assert.deepEqual([get.status, get.out, get.stderr], [0, 'abc123', ''], what);
        const compiled = readFileSync(trace, 'utf8').split('\n').filter((l) => l.startsWith('compiled:'));
        assert.deepEqual(compiled, [`compiled:${join(dir, 'dist', 'cli', 'get.cjs')} cache=${expected}`], what);
      } finally {
        cleanup();
      }
    }
  } finally {
    v.cleanup();
  }
});
