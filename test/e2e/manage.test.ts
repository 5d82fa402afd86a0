import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { freshVault, runInProcess, type RunResult } from '../helpers/cli.js';
import { query, snapshot } from '../helpers/sqlite.js';

/** list, history, rollback and rm, with the NS/NAME, --ns and VAULT_NS forms. */

let v: Awaited<ReturnType<typeof freshVault>>;
before(async () => {
  v = await freshVault();
});
after(() => v?.cleanup());

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function vault(args: string[], options: { env?: Record<string, string | undefined>; input?: string; locked?: boolean } = {}): Promise<RunResult> {
  const base = options.locked ? { VAULT_PATH: v.path } : v.env;
  return runInProcess(args, { env: { ...base, ...options.env }, ...(options.input !== undefined ? { input: options.input } : {}) });
}

function ok(r: RunResult, stderr = ''): void {
  assert.equal(r.stderr, stderr);
  assert.equal(r.status, 0);
}

/** The list --json objects, as read straight from the file. */
function expectedList(where: string): string {
  const rows = query(
    v.path,
    `SELECT s.ns, s.name, s.current_version AS version, s.description, s.created_at, s.updated_at, x.expires_at, s.not_secret
     FROM secrets s JOIN versions x ON x.secret_id = s.id AND x.version = s.current_version
     WHERE s.removed_at IS NULL AND ${where} ORDER BY s.ns, s.name`,
  );
  return `${JSON.stringify(
    rows.map((r) => ({
      ns: r.ns,
      name: r.name,
      version: r.version,
      description: r.description,
      created: iso(r.created_at as number),
      updated: iso(r.updated_at as number),
      expires: iso(r.expires_at as number | null),
      expired: false,
      notSecret: r.not_secret === 1,
    })),
  )}\n`;
}

function versionRows(ns: string, name: string): Array<{ version: number; created: number; size: number; origin: string }> {
  return query(
    v.path,
    `SELECT version, created_at AS created, size, origin FROM versions WHERE secret_id = (SELECT id FROM secrets WHERE ns = ? AND name = ?) ORDER BY version`,
    [ns, name],
  ) as unknown as Array<{ version: number; created: number; size: number; origin: string }>;
}

describe('list', () => {
  test('an empty vault: exit 0, no output at all; --json gives []', async () => {
    const r = await vault(['list'], { locked: true });
    ok(r);
    assert.equal(r.out, '');
    const j = await vault(['list', '--json'], { locked: true });
    ok(j);
    assert.equal(j.out, '[]\n');
  });

  test('names in a pipe, one per line; --prefix; --all-ns as ns/NAME; --ns, VAULT_NS and NS/NAME address namespaces', async () => {
    ok(await vault(['put', 'API_KEY'], { input: 'a' }), 'stored default/API_KEY version 1\n');
    ok(await vault(['put', 'API_SECRET', '--description', 'the other half'], { input: 'b' }), 'stored default/API_SECRET version 1\n');
    ok(await vault(['put', 'DB_URL'], { input: 'c' }), 'stored default/DB_URL version 1\n');
    ok(await vault(['put', 'TOKEN', '--ns', 'ci'], { input: 'd' }), 'stored ci/TOKEN version 1\n');
    ok(await vault(['put', 'TOKEN'], { input: 'e', env: { VAULT_NS: 'prod.eu-1' } }), 'stored prod.eu-1/TOKEN version 1\n');
    // NS/NAME wins over VAULT_NS; an explicit --ns that says otherwise is a contradiction, refused
    const contra = await vault(['put', 'ci/DEPLOY_KEY', '--ns', 'prod.eu-1'], { input: 'f' });
    assert.equal(contra.status, 2);
    assert.equal(contra.stderr, 'vault: error: --ns prod.eu-1 contradicts the namespace ci in "ci/DEPLOY_KEY"\nvault: hint: drop --ns, or name the secret as prod.eu-1/DEPLOY_KEY\n');
    ok(await vault(['put', 'ci/DEPLOY_KEY', '--ns', 'ci'], { input: 'f', env: { VAULT_NS: 'other' } }), 'stored ci/DEPLOY_KEY version 1\n');

    const list = await vault(['list'], { locked: true });
    ok(list);
    assert.equal(list.out, 'API_KEY\nAPI_SECRET\nDB_URL\n');
    const prefix = await vault(['list', '--prefix', 'API_'], { locked: true });
    ok(prefix);
    assert.equal(prefix.out, 'API_KEY\nAPI_SECRET\n');
    const all = await vault(['list', '--all-ns'], { locked: true });
    ok(all);
    assert.equal(all.out, 'ci/DEPLOY_KEY\nci/TOKEN\ndefault/API_KEY\ndefault/API_SECRET\ndefault/DB_URL\nprod.eu-1/TOKEN\n');
    const ci = await vault(['ls', '--ns', 'ci'], { locked: true });
    ok(ci);
    assert.equal(ci.out, 'DEPLOY_KEY\nTOKEN\n');
    const env = await vault(['list'], { locked: true, env: { VAULT_NS: 'prod.eu-1' } });
    ok(env);
    assert.equal(env.out, 'TOKEN\n');
    const none = await vault(['list', '--prefix', 'NOPE'], { locked: true });
    ok(none);
    assert.equal(none.out, '');

    const json = await vault(['list', '--json'], { locked: true });
    ok(json);
    assert.equal(json.out, expectedList(`s.ns = 'default'`));
    assert.match(json.out, /"name":"API_SECRET","version":1,"description":"the other half"/);
    const allJson = await vault(['--json', 'list', '--all-ns', '--prefix', 'T'], { locked: true });
    ok(allJson);
    assert.equal(allJson.out, expectedList(`s.name LIKE 'T%'`));
    assert.equal((JSON.parse(allJson.out) as unknown[]).length, 2);

    // The values are reachable through each form.
    const got = await vault(['get', 'TOKEN', '--ns', 'ci']);
    ok(got);
    assert.equal(got.out, 'd');
    const got2 = await vault(['get', 'prod.eu-1/TOKEN']);
    ok(got2);
    assert.equal(got2.out, 'e');
  });
});

describe('history and rollback', () => {
  test('history in a pipe and as JSON; rollback makes a new version equal to the old one', async () => {
    ok(await vault(['put', 'API_KEY', '--force'], { input: 'a2' }), 'stored default/API_KEY version 2\n');
    ok(await vault(['put', 'API_KEY', '--force', '--expires', '2099-06-01'], { input: 'a-three' }), 'stored default/API_KEY version 3\n');

    const rb = await vault(['rollback', 'API_KEY', '1']);
    ok(rb, 'default/API_KEY version 4 now equals version 1\n');
    assert.equal(rb.out, '');
    const got = await vault(['get', 'API_KEY']);
    ok(got);
    assert.equal(got.out, 'a');

    const rows = versionRows('default', 'API_KEY');
    assert.deepEqual(
      rows.map((r) => [r.version, r.size, r.origin]),
      [
        [1, 1, 'put'],
        [2, 2, 'put'],
        [3, 7, 'put'],
        [4, 1, 'rollback:1'],
      ],
    );
    const h = await vault(['history', 'API_KEY'], { locked: true });
    ok(h);
    assert.equal(h.out, rows.map((r) => `${r.version}\t${iso(r.created)}\t${r.origin}${r.version === 4 ? '\tcurrent' : ''}\n`).join(''));

    const hj = await vault(['history', 'API_KEY', '--json'], { locked: true });
    ok(hj);
    assert.equal(
      hj.out,
      `${JSON.stringify({
        ns: 'default',
        name: 'API_KEY',
        removed: false,
        versions: rows.map((r) => ({
          version: r.version,
          created: iso(r.created),
          size: r.size,
          expires: r.version === 3 ? '2099-06-01T00:00:00.000Z' : null,
          origin: r.origin,
          current: r.version === 4,
        })),
      })}\n`,
    );

    // A rollback to a version with an expiry carries the expiry.
    const rbJson = await vault(['rollback', 'default/API_KEY', '3', '--json']);
    ok(rbJson);
    assert.equal(rbJson.out, '{"ns":"default","name":"API_KEY","version":5,"from":3}\n');
    const list = await vault(['list', '--json'], { locked: true });
    assert.match(list.out, /"name":"API_KEY","version":5,.*"expires":"2099-06-01T00:00:00.000Z","expired":false/);
  });

  test('rollback to an unknown version or secret → 3 and nothing written; a bad version → 2', async () => {
    const before = snapshot(v.path, { lastUsed: true });
    const r = await vault(['rollback', 'API_KEY', '9']);
    assert.equal(r.stderr, 'vault: error: secret default/API_KEY has no version 9\nvault: hint: vault history default/API_KEY lists its versions\n');
    assert.equal(r.status, 3);
    assert.equal(r.out, '');
    const s = await vault(['rollback', 'NOPE', '1']);
    assert.equal(s.stderr, 'vault: error: no secret default/NOPE\nvault: hint: vault list shows the stored names\n');
    assert.equal(s.status, 3);
    const bad = await vault(['rollback', 'API_KEY', 'latest']);
    assert.equal(bad.stderr, 'vault: error: invalid version "latest"\nvault: hint: a version is a whole number from 1\n');
    assert.equal(bad.status, 2);
    assert.equal(snapshot(v.path, { lastUsed: true }), before);
    const h = await vault(['history', 'NOPE'], { locked: true });
    assert.equal(h.stderr, 'vault: error: no secret default/NOPE\nvault: hint: vault list shows the stored names\n');
    assert.equal(h.status, 3);
  });
});

describe('rm', () => {
  test('without --yes and no TTY → 2 and nothing removed', async () => {
    const before = snapshot(v.path, { lastUsed: true });
    const r = await vault(['rm', 'DB_URL']);
    assert.equal(r.stderr, 'vault: error: refusing to remove default/DB_URL without confirmation\nvault: hint: pass --yes when not in a terminal\n');
    assert.equal(r.status, 2);
    assert.equal(r.out, '');
    assert.equal(snapshot(v.path, { lastUsed: true }), before);
  });

  test('rm --yes: get → 3, gone from list, history still works; rollback restores it', async () => {
    const r = await vault(['rm', 'DB_URL', '--yes']);
    ok(r, 'removed default/DB_URL; its versions are kept until vault rm --purge\n');
    assert.equal(r.out, '');

    const get = await vault(['get', 'DB_URL']);
    const removedAt = query(v.path, `SELECT removed_at FROM secrets WHERE ns = 'default' AND name = 'DB_URL'`)[0]!.removed_at as number;
    const gone = `vault: error: no secret default/DB_URL: it was removed on ${new Date(removedAt).toISOString().replace('T', ' ').slice(0, 16)}Z\nvault: hint: vault rollback default/DB_URL 1 restores it\n`;
    assert.equal(get.stderr, gone);
    assert.equal(get.status, 3);
    assert.equal(get.out, '');
    const list = await vault(['list'], { locked: true });
    ok(list);
    assert.equal(list.out, 'API_KEY\nAPI_SECRET\n');

    const [row] = versionRows('default', 'DB_URL');
    const h = await vault(['history', 'DB_URL'], { locked: true });
    ok(h);
    assert.equal(h.out, `1\t${iso(row!.created)}\tput\n`);
    const hj = await vault(['history', 'DB_URL', '--json'], { locked: true });
    ok(hj);
    assert.equal(hj.out, `{"ns":"default","name":"DB_URL","removed":true,"versions":[{"version":1,"created":"${iso(row!.created)}","size":1,"expires":null,"origin":"put","current":true}]}\n`);

    const again = await vault(['rm', 'DB_URL', '--yes']);
    assert.equal(again.stderr, gone);
    assert.equal(again.status, 3);

    ok(await vault(['rollback', 'DB_URL', '1']), 'default/DB_URL version 2 now equals version 1\n');
    const back = await vault(['get', 'DB_URL']);
    ok(back);
    assert.equal(back.out, 'c');
    const list2 = await vault(['list'], { locked: true });
    assert.equal(list2.out, 'API_KEY\nAPI_SECRET\nDB_URL\n');
  });

  test('rm --purge deletes every version and the description; a tombstone keeps the highest version; history → 3', async () => {
    const id = (query(v.path, `SELECT id FROM secrets WHERE ns = 'default' AND name = 'DB_URL'`)[0]!.id as number);
    const r = await vault(['rm', 'DB_URL', '--purge', '--yes', '--json']);
    ok(r);
    assert.equal(r.out, '{"ns":"default","name":"DB_URL","removed":true,"purged":true,"versions":2}\n');
    // What stays is a tombstone: the name, the highest version ever used (never reused), a
    // fresh uid (no old ciphertext matches it again) and its MAC; no value, no description.
    assert.deepEqual(query(v.path, 'SELECT highest_version, description, expires_at, removed_at IS NOT NULL AS removed FROM secrets WHERE id = ?', [id]), [
      { highest_version: 2, description: null, expires_at: null, removed: 1 },
    ]);
    assert.deepEqual(query(v.path, 'SELECT COUNT(*) AS n FROM versions WHERE secret_id = ?', [id]), [{ n: 0 }]);
    const h = await vault(['history', 'DB_URL'], { locked: true });
    assert.equal(h.stderr, 'vault: error: no secret default/DB_URL\nvault: hint: vault list shows the stored names\n');
    assert.equal(h.status, 3);

    // A removed secret can still be purged, and the message counts its versions.
    ok(await vault(['rm', 'ci/TOKEN', '--yes']), 'removed ci/TOKEN; its versions are kept until vault rm --purge\n');
    ok(await vault(['rm', 'ci/TOKEN', '--yes', '--purge']), 'destroyed ci/TOKEN (1 version)\n');
    assert.deepEqual(query(v.path, `SELECT COUNT(*) AS n FROM versions WHERE secret_id = (SELECT id FROM secrets WHERE ns = 'ci' AND name = 'TOKEN')`), [{ n: 0 }]);
    // The name is free again (put needs no --force), and version numbers go on: never reused.
    ok(await vault(['put', 'ci/TOKEN'], { input: 'new' }), 'stored ci/TOKEN version 2\n');
  });
});
