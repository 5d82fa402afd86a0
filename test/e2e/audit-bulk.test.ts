import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { freshVault, runVault } from '../helpers/cli.js';
import { auditLog, sqliteJson } from '../helpers/sqlite.js';

/**
 * A bulk read or import of more than 64 secrets stores its name list deflated (the entry's MAC
 * covers the stored text), and readers see it expanded: `vault audit --name NAME` finds the
 * bulk entries that included NAME, `vault audit verify` checks them.
 */

const COUNT = 300;
const names = Array.from({ length: COUNT }, (_, i) => `SECRET_${String(i).padStart(4, '0')}`);

test('a bulk read of 300 secrets stores its names deflated, verifies, and audit --name finds it', async () => {
  const v = await freshVault();
  try {
    const file = join(v.dir, 'many.env');
    writeFileSync(file, names.map((n, i) => `${n}=value-${i}\n`).join(''));
    const imported = await runVault(['import', file], { env: v.env });
    assert.equal(imported.status, 0, imported.stderr);
    const env = await runVault(['env', '--format', 'json'], { env: v.env });
    assert.equal(env.status, 0, env.stderr);
    assert.equal(Object.keys(JSON.parse(env.out) as object).length, COUNT);
    const small = await runVault(['env', '--only', 'SECRET_0001,SECRET_0002'], { env: v.env });
    assert.equal(small.status, 0, small.stderr);

    // As stored: the long lists deflated, with their count; the short one as it always was.
    const stored = auditLog(v.path).filter((e) => e.op === 'import' || e.op === 'env');
    assert.deepEqual(stored.map((e) => [e.op, Object.keys(e.detail ?? {})]), [
      ['import', ['names_count', 'names_z', 'overwritten']],
      ['env', ['format', 'names_count', 'names_z']],
      ['env', ['format', 'names']],
    ]);
    assert.equal(stored[1]!.detail!.names_count, COUNT);
    assert.deepEqual(stored[2]!.detail!.names, ['SECRET_0001', 'SECRET_0002']);
    const [size] = sqliteJson<{ n: number }>(v.path, "SELECT length(detail) AS n FROM audit WHERE op = 'env' ORDER BY seq LIMIT 1");
    assert.ok(size!.n < JSON.stringify({ names }).length / 3, `stored detail of ${size!.n} bytes`);

    // As read: expanded, and found by name.
    const audit = await runVault(['audit', '--json', '--name', 'SECRET_0123'], { env: v.env });
    assert.equal(audit.status, 0, audit.stderr);
    const found = audit.out.trim().split('\n').map((l) => JSON.parse(l) as { op: string; detail: { names: string[] } });
    assert.deepEqual(found.map((e) => e.op), ['import', 'env']);
    assert.deepEqual(found[1]!.detail.names, names);
    const two = await runVault(['audit', '--json', '--name', 'default/SECRET_0002', '--limit', '2'], { env: v.env });
    assert.deepEqual(two.out.trim().split('\n').map((l) => (JSON.parse(l) as { op: string }).op), ['env', 'env']);
    const none = await runVault(['audit', '--json', '--name', 'NOT_THERE'], { env: v.env });
    assert.equal(none.status, 0, none.stderr);
    assert.equal(none.out, '');

    const verify = await runVault(['audit', 'verify'], { env: v.env });
    assert.equal(verify.status, 0, verify.stderr);
  } finally {
    v.cleanup();
  }
});
