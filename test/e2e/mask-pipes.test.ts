/**
 * `exec --mask` at volume: the child's output is read into reused buffers and written on as
 * pieces (src/exec/child.ts), so these check exact bytes where that could go wrong — values
 * across the boundaries of 64 KiB reads and across the middle of a read (where the automaton's
 * second lane starts), stdout and stderr at once, a destination that is a file (every write
 * done at once) and one that is a pipe nobody reads for a second (writes left pending, reading
 * paused, buffers busy), and a thousand values (the hash index instead of the automaton).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BIN, freshVault, runCommand, runVault, type FreshVault } from '../helpers/cli.js';
import { seed } from '../helpers/seed.js';

const TOKEN = 'sk_live_Q2hhbmdlTWUhMTIzNDU2';
const READ = 65536;

/**
 * About 3 MiB of filler ('.', ' ' and newlines: nothing any form of TOKEN contains), with the
 * value, its base64 and its hex planted across every 64 KiB boundary and every middle of one,
 * at a different offset each time; and what --mask must turn it into.
 */
function output(): { text: Buffer; masked: Buffer } {
  const forms = [TOKEN, Buffer.from(TOKEN).toString('base64'), Buffer.from(TOKEN).toString('hex')];
  const size = 48 * READ;
  const text = Buffer.alloc(size, '. . . . . . . . . . . . . . . . . . . . . . . . . . . . . . . . . . . . . . . .\n');
  const plants: Array<{ at: number; form: string }> = [];
  let k = 0;
  for (let boundary = READ / 2; boundary + 200 < size; boundary += READ / 2, k++) {
    const form = forms[k % forms.length]!;
    // From wholly before the boundary to wholly after it.
    const at = boundary - form.length + (k * 7) % (form.length + 1);
    Buffer.from(form, 'latin1').copy(text, at);
    plants.push({ at, form });
  }
  const parts: Buffer[] = [];
  let from = 0;
  for (const p of plants) {
    parts.push(text.subarray(from, p.at), Buffer.from('*****'));
    from = p.at + p.form.length;
  }
  parts.push(text.subarray(from));
  return { text, masked: Buffer.concat(parts) };
}

/**
 * `vault exec --mask -- sh -c SCRIPT` with vault's stdout and stderr redirected by REDIRECTS,
 * its stdout then piped into a reader that sleeps a second before it reads; vault's exit status
 * goes to the file STATUS.
 */
function lateReader(v: FreshVault, script: string, redirects: string, status: string): Promise<Awaited<ReturnType<typeof runCommand>>> {
  const vault = `"${process.execPath}" "--inspect-port=[ff02::1]:9229" -- "${BIN}"`;
  return runCommand('/bin/sh', ['-c', `{ ${vault} exec --mask -- sh -c '${script}' ${redirects}; echo $? >${status}; } | { sleep 1; cat; }`], { env: v.env, timeoutMs: 120_000 });
}

test('exec --mask: 3 MiB on stdout and stderr at once, values across every read boundary, to a file and to a pipe that is read late', { timeout: 180_000 }, async () => {
  const v = await freshVault();
  try {
    await seed(v, { TOKEN, SHORT: 'abc' });
    const { text, masked } = output();
    const input = join(v.dir, 'output.txt');
    writeFileSync(input, text);
    const both = `cat ${input}; cat ${input} >&2; exit 7`;
    const err = join(v.dir, 'stderr.txt');
    const out = join(v.dir, 'stdout.txt');

    // Straight to the test's pipes.
    const direct = await runVault(['exec', '--mask', '--', 'sh', '-c', both], { env: v.env, timeoutMs: 120_000 });
    assert.equal(direct.status, 7);
    assert.ok(direct.stdout.equals(masked), 'stdout differs');
    assert.ok(Buffer.from(direct.stderr, 'latin1').equals(masked), 'stderr differs');

    // stdout into a pipe whose reader sleeps first (vault's writes stay pending, reading
    // pauses, buffers stay busy); stderr into a file (each write done at once).
    const status = join(v.dir, 'status');
    const late = await lateReader(v, both, `2>${err}`, status);
    assert.equal(late.status, 0, late.stderr);
    assert.equal(readFileSync(status, 'utf8'), '7\n');
    assert.ok(late.stdout.equals(masked), 'stdout through the late pipe differs');
    assert.ok(readFileSync(err).equals(masked), 'stderr in the file differs');

    // The other way round: stderr into the late pipe, stdout into a file.
    const swapped = await lateReader(v, both, `2>&1 >${out}`, status);
    assert.equal(swapped.status, 0, swapped.stderr);
    assert.equal(readFileSync(status, 'utf8'), '7\n');
    assert.ok(swapped.stdout.equals(masked), 'stderr through the late pipe differs');
    assert.ok(readFileSync(out).equals(masked), 'stdout in the file differs');
  } finally {
    v.cleanup();
  }
});

test('exec --mask: a child writing odd-sized pieces, and a thousand values (the hash index), give exact output', { timeout: 180_000 }, async () => {
  const v = await freshVault();
  try {
    const secrets: Record<string, string> = { TOKEN };
    for (let i = 0; i < 1000; i++) secrets[`S${i}`] = `value-${i}-${'x'.repeat(i % 13)}-end`;
    await seed(v, secrets);
    const { text, masked } = output();
    const input = join(v.dir, 'output.txt');
    writeFileSync(input, text);
    // Pieces of 1 to 9,000 bytes, every hundredth after a pause.
    const writer = join(v.dir, 'writer.cjs');
    writeFileSync(
      writer,
      `const data = require('fs').readFileSync(${JSON.stringify(input)});
       let at = 0, n = 0;
       const next = () => {
         while (at < data.length) {
           const size = 1 + ((n * 7919) % 9000);
           const ok = process.stdout.write(data.subarray(at, at + size));
           at += size;
           if (++n % 100 === 0 || !ok) return void setTimeout(next, 1);
         }
       };
       next();`,
    );
    const r = await runVault(['exec', '--mask', '--', process.execPath, writer], { env: v.env, timeoutMs: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stdout.equals(masked), 'stdout differs');
    assert.equal(r.stderr, '');
  } finally {
    v.cleanup();
  }
});

test('exec --mask: a reader of vault that is a second late still gets everything the command printed before it exited', { timeout: 180_000 }, async () => {
  const v = await freshVault();
  try {
    await seed(v, { TOKEN });
    const status = join(v.dir, 'status');
    // Less than the pipes hold between them: the command is done and gone while vault waits
    // for its reader. (vault once took that wait for a quiet pipe and dropped the rest.)
    for (const size of [100_000, 200_000, 400_000]) {
      const text = Buffer.alloc(size, '. . . . . . . .\n');
      Buffer.from(TOKEN).copy(text, size - 100);
      const masked = Buffer.concat([text.subarray(0, size - 100), Buffer.from('*****'), text.subarray(size - 100 + TOKEN.length)]);
      const file = join(v.dir, `out-${size}.txt`);
      writeFileSync(file, text);
      const out = await lateReader(v, `cat ${file}; exit 3`, '', status);
      assert.equal(out.status, 0, out.stderr);
      assert.equal(readFileSync(status, 'utf8'), '3\n');
      assert.equal(out.stdout.length, masked.length, `stdout, ${size} bytes`);
      assert.ok(out.stdout.equals(masked), `stdout, ${size} bytes`);
      const err = await lateReader(v, `cat ${file} >&2; exit 3`, '2>&1 >/dev/null', status);
      assert.equal(err.status, 0, err.stderr);
      assert.equal(readFileSync(status, 'utf8'), '3\n');
      assert.equal(err.stdout.length, masked.length, `stderr, ${size} bytes`);
      assert.ok(err.stdout.equals(masked), `stderr, ${size} bytes`);
    }
  } finally {
    v.cleanup();
  }
});
