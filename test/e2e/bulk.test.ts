import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freshVault, runInProcess, runVault } from '../helpers/cli.js';
import { exec, query } from '../helpers/sqlite.js';

/**
 * Import and `list --json` at a size where their bulk paths show: more secrets than one piece
 * of list --json's output (256) and than one piece of the state digest (1,024 rows).
 */

let v: Awaited<ReturnType<typeof freshVault>>;
before(async () => {
  v = await freshVault();
});
after(() => v?.cleanup());

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** list --json as read straight from the file: `where` picks the rows, ordered by namespace and name. */
function expectedList(where: string): string {
  const rows = query(
    v.path,
    `SELECT ns, name, current_version, description, created_at, updated_at, expires_at, not_secret, rotation_due
     FROM secrets WHERE removed_at IS NULL AND ${where} ORDER BY ns, name`,
  );
  const now = Date.now();
  // list --json escapes DEL and the C1 controls as well (jsonText)
  const c1 = (text: string): string => text.replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return `${c1(JSON.stringify(
    rows.map((r) => ({
      ns: r.ns,
      name: r.name,
      version: r.current_version,
      description: r.description,
      created: iso(r.created_at as number),
      updated: iso(r.updated_at as number),
      expires: iso(r.expires_at as number | null),
      expired: r.expires_at !== null && (r.expires_at as number) <= now,
      notSecret: r.not_secret === 1,
      ...(r.rotation_due === 1 ? { rotationDue: true } : {}),
    })),
  ))}\n`;
}

function envFile(name: string, count: number, value: (i: number) => string, dir = v.dir): string {
  const path = join(dir, name);
  writeFileSync(path, Array.from({ length: count }, (_, i) => `S_${String(i).padStart(4, '0')}=${value(i)}\n`).join(''));
  return path;
}

test('import of 1,300 secrets, then list --json of 1,300 and of every namespace, byte for byte as the file holds them', async () => {
  const big = await runInProcess(['import', envFile('big.env', 1300, (i) => `value-${i}-${'x'.repeat(24)}`)], { env: v.env });
  assert.equal(big.status, 0, big.stderr);
  assert.equal(big.stderr, 'imported 1300 secrets into default\n');
  const small = await runInProcess(['--json', '--ns', 'ci', 'import', envFile('small.env', 3, (i) => `ci-${i}`), '--not-secret'], { env: v.env });
  assert.equal(small.status, 0, small.stderr);
  assert.equal(small.out, '{"ns":"ci","imported":3,"created":["S_0000","S_0001","S_0002"],"updated":[]}\n');

  // A description with DEL and C1 controls, a rotation-due mark and an expiry, in the second
  // and fifth piece of 256 items, so that escaping and optional keys cross piece boundaries.
  exec(v.path, `UPDATE secrets SET description = 'a\u007fb\u009bc "q"' WHERE ns = 'default' AND name = 'S_0300'`);
  exec(v.path, `UPDATE secrets SET rotation_due = 1, expires_at = 1000 WHERE ns = 'default' AND name IN ('S_0255', 'S_0256', 'S_1299')`);

  const list = await runInProcess(['list', '--json'], { env: { VAULT_PATH: v.path } });
  assert.equal(list.status, 0, list.stderr);
  assert.equal(list.stderr, '');
  assert.equal(list.out, expectedList(`ns = 'default'`));
  const items = JSON.parse(list.out) as Array<{ name: string; description: string | null; rotationDue?: boolean; expired: boolean }>;
  assert.equal(items.length, 1300);
  assert.deepEqual(items[300], { ...items[300], name: 'S_0300', description: 'a\u007fb\u009bc "q"' });
  assert.ok(list.out.includes('"description":"a\\u007fb\\u009bc \\"q\\""'));
  assert.deepEqual(items.filter((i) => i.rotationDue).map((i) => [i.name, i.expired]), [['S_0255', true], ['S_0256', true], ['S_1299', true]]);

  const all = await runInProcess(['list', '--all-ns', '--json'], { env: { VAULT_PATH: v.path } });
  assert.equal(all.status, 0, all.stderr);
  assert.equal(all.out, expectedList('1'));
  assert.equal((JSON.parse(all.out) as unknown[]).length, 1303);
  const prefix = await runInProcess(['list', '--all-ns', '--prefix', 'S_12', '--json'], { env: { VAULT_PATH: v.path } });
  assert.equal(prefix.out, expectedList(`name LIKE 'S\\_12%' ESCAPE '\\'`));
  assert.equal((JSON.parse(prefix.out) as unknown[]).length, 100);

  // The launcher's stdout (a pipe) takes the pieces as one text too.
  const spawned = await runVault(['list', '--json'], { env: { VAULT_PATH: v.path } });
  assert.equal(spawned.status, 0, spawned.stderr);
  assert.equal(spawned.out, list.out);
});

test('after imports of 1,300 and 5 the vault verifies at unlock (the state digest over more than one piece) and a planted row is refused', async () => {
  const w = await freshVault();
  try {
    const big = await runInProcess(['import', envFile('big.env', 1300, (i) => `value-${i}`, w.dir)], { env: w.env });
    assert.equal(big.status, 0, big.stderr);
    const got = await runInProcess(['get', 'S_1299'], { env: w.env });
    assert.equal(got.status, 0, got.stderr);
    assert.equal(got.out, 'value-1299');
    const again = await runInProcess(['--ns', 'more', 'import', envFile('more.env', 5, (i) => `m-${i}`, w.dir)], { env: w.env });
    assert.equal(again.status, 0, again.stderr);
    assert.equal(again.stderr, 'imported 5 secrets into more\n');
    const env = await runInProcess(['--ns', 'more', 'env'], { env: w.env });
    assert.equal(env.status, 0, env.stderr);
    assert.equal(env.out, "S_0000='m-0'\nS_0001='m-1'\nS_0002='m-2'\nS_0003='m-3'\nS_0004='m-4'\n");

    // A row copied in by a file writer, with the uid and MAC of another row: not in the state digest.
    exec(w.path, `INSERT INTO secrets (ns, name, uid, current_version, highest_version, created_at, updated_at, mac) SELECT 'x', 'PLANTED', uid, 1, 1, created_at, updated_at, mac FROM secrets WHERE name = 'S_0000' AND ns = 'more'`);
    const refused = await runInProcess(['get', 'S_0001', '--ns', 'more'], { env: w.env });
    assert.equal(refused.status, 7);
    assert.equal(refused.out, '');
    assert.equal(refused.stderr, "vault: error: the vault's secrets or key slots do not match its state record: rows were rolled back, removed, added or edited\nvault: hint: the vault file may have been tampered with; restore it from a backup\n");
  } finally {
    w.cleanup();
  }
});
