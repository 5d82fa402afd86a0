import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BIN, freshVault, runCommand, runVault } from '../helpers/cli.js';
import { seed } from '../helpers/seed.js';
import { auditLog } from '../helpers/sqlite.js';

/** Runs vault under `umask 000`, the most permissive umask, to show the file mode does not depend on it. */
function runUmask000(args: string[], env: Record<string, string>, cwd: string) {
  return runCommand('sh', ['-c', 'umask 000; : > umask-control; exec "$@"', 'sh', process.execPath, '--inspect-port=[ff02::1]:9229', '--', BIN, ...args], { env, cwd });
}

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

test('export -o FILE writes the export to a new 0600 file whatever the umask, and prints nothing on stdout', async () => {
  const v = await freshVault();
  try {
    await seed(v, { A: 'x y', B: "it's" });
    const expected = (await runVault(['export'], { env: v.env })).stdout;
    assert.ok(expected.toString().startsWith("A='x y'\n"), expected.toString());
    const file = join(v.dir, 'out.env');
    const r = await runUmask000(['export', '-o', file], v.env, v.dir);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.length, 0);
    assert.equal(r.stderr, `wrote ${file}\n`);
    // The umask really was 000 in that process: sh's own file is world-writable.
    assert.equal(mode(join(v.dir, 'umask-control')), 0o666);
    assert.equal(mode(file), 0o600);
    assert.deepEqual(readFileSync(file), expected);

    // --output, --json: the JSON goes to the file, stdout stays empty; --quiet silences stderr.
    const json = join(v.dir, 'out.json');
    const rj = await runUmask000(['--json', '--quiet', 'export', '--output', json], v.env, v.dir);
    assert.equal(rj.status, 0, rj.stderr);
    assert.equal(rj.stdout.length, 0);
    assert.equal(rj.stderr, '');
    assert.equal(mode(json), 0o600);
    assert.equal(readFileSync(json, 'utf8'), `{"A":"x y","B":"it's"}\n`);

    assert.deepEqual(
      auditLog(v.path).filter((e) => e.op === 'export').map((e) => e.detail),
      [
        { format: 'dotenv', names: ['A', 'B'] },
        { format: 'dotenv', to: 'file', names: ['A', 'B'] },
        { format: 'json', to: 'file', names: ['A', 'B'] },
      ],
    );
  } finally {
    v.cleanup();
  }
});

test('export -o replaces an existing file as inject -o does: atomically, with mode 0600; an unwritable target is exit 1', async () => {
  const v = await freshVault();
  try {
    await seed(v, { A: 'x y' });
    const file = join(v.dir, 'existing.env');
    writeFileSync(file, 'old content\n', { mode: 0o644 });
    const r = await runUmask000(['export', '--format', 'shell', '-o', file], v.env, v.dir);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.length, 0);
    assert.equal(mode(file), 0o600);
    assert.equal(readFileSync(file, 'utf8'), "export A='x y'\n");
    // No temporary file is left beside it.
    assert.deepEqual(readdirSync(v.dir).filter((f) => f.endsWith('.tmp')), []);

    const missing = join(v.dir, 'no-such-dir', 'out.env');
    const bad = await runVault(['export', '-o', missing], { env: v.env });
    assert.equal(bad.status, 1);
    assert.equal(bad.stdout.length, 0);
    assert.equal(bad.stderr, `vault: error: cannot write ${missing}: no such file\n`);
  } finally {
    v.cleanup();
  }
});
