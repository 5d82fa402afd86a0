import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BIN, baseEnv, freshVault, runCommand, runVault } from '../helpers/cli.js';

// `vault get` (and list, env, export, --json output) writes to a pipe, a file or /dev/null with
// write(2) before node has made a stdout stream (src/cli/io.ts, directStdout). These run the
// binary against each kind of stdout a script gives it and check every byte and the exit status.

/** A value of `size` random bytes (not text: get prints bytes as they are), stored as NAME. */
async function vaultWith(name: string, size: number): Promise<{ v: Awaited<ReturnType<typeof freshVault>>; value: Buffer }> {
  const v = await freshVault();
  const value = randomBytes(size);
  // No trailing newline in the value: put drops one from stdin, --from-file keeps every byte.
  const file = join(v.dir, 'value.bin');
  writeFileSync(file, value);
  const put = await runVault(['put', name, '--from-file', file], { env: v.env });
  assert.equal(put.status, 0, put.stderr);
  return { v, value };
}

test('vault get writes the exact bytes to a pipe, a file and /dev/null', async () => {
  const { v, value } = await vaultWith('BLOB', 200_000);
  try {
    // A pipe (a socket pair, as node's spawn makes it): more than a pipe buffer holds at once.
    const piped = await runVault(['get', 'BLOB'], { env: v.env });
    assert.deepEqual([piped.status, piped.stderr], [0, '']);
    assert.ok(piped.stdout.equals(value), 'the pipe got every byte, in order');

    // A file and /dev/null, as a shell redirects them.
    const out = join(v.dir, 'out.bin');
    const sh = await runCommand('/bin/sh', ['-c', `"$NODE" "$BIN" get BLOB > "$OUT" && "$NODE" "$BIN" get BLOB > /dev/null && "$NODE" "$BIN" get BLOB | cat > "$OUT.cat"`], {
      env: { ...v.env, NODE: process.execPath, BIN, OUT: out },
    });
    assert.deepEqual([sh.status, sh.stderr, sh.out], [0, '', '']);
    assert.ok(readFileSync(out).equals(value), 'the file got every byte');
    assert.ok(readFileSync(`${out}.cat`).equals(value), 'a FIFO (sh\'s pipe) got every byte');
  } finally {
    v.cleanup();
  }
});

test('vault get into a full non-blocking pipe waits for the reader and loses nothing', async () => {
  // 1 MiB into a pipe of 64 KiB whose write end is O_NONBLOCK, read only after a pause: write(2)
  // takes a part, then EAGAIN, and node's stream must take over the rest and wait.
  const { v, value } = await vaultWith('BIG', 1024 * 1024);
  try {
    const script = [
      'import os, subprocess, sys, time',
      'r, w = os.pipe()',
      'os.set_blocking(w, False)',
      'p = subprocess.Popen(sys.argv[1:], stdout=w, stderr=subprocess.PIPE)',
      'os.close(w)',
      'time.sleep(1.0)',
      'data = b""',
      'while True:',
      '    chunk = os.read(r, 65536)',
      '    if not chunk: break',
      '    data += chunk',
      'err = p.stderr.read()',
      'sys.stdout.buffer.write(data)',
      'sys.stderr.buffer.write(err)',
      'sys.exit(p.wait())',
    ].join('\n');
    const r = await runCommand('python3', ['-c', script, process.execPath, BIN, 'get', 'BIG'], { env: v.env });
    assert.deepEqual([r.status, r.stderr], [0, '']);
    assert.equal(r.stdout.length, value.length);
    assert.ok(r.stdout.equals(value), 'every byte, in order');
  } finally {
    v.cleanup();
  }
});

test('a reader that has gone: vault get and vault list end quietly with status 0', async () => {
  const { v } = await vaultWith('BLOB', 1000);
  try {
    for (const args of [['get', 'BLOB'], ['list'], ['list', '--json']]) {
      const r = await new Promise<{ status: number | null; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, [BIN, ...args], { env: { ...baseEnv(v.dir), ...v.env }, stdio: ['ignore', 'pipe', 'pipe'] });
        // The read end is closed before vault writes: its write fails with EPIPE.
        child.stdout.destroy();
        const err: Buffer[] = [];
        child.stderr.on('data', (c: Buffer) => err.push(c));
        child.on('error', reject);
        child.on('close', (status) => resolve({ status, stderr: Buffer.concat(err).toString() }));
      });
      assert.deepEqual(r, { status: 0, stderr: '' }, args.join(' '));
    }
  } finally {
    v.cleanup();
  }
});
