import assert from 'node:assert/strict';
import { test } from 'node:test';
import { freshVault, runInProcess } from '../helpers/cli.js';
import { sql } from '../helpers/sqlite.js';

const SETS: Record<string, RegExp> = {
  alnum: /^[A-Za-z0-9]*$/,
  alpha: /^[A-Za-z]*$/,
  num: /^[0-9]*$/,
  hex: /^[0-9a-f]*$/,
  base64url: /^[A-Za-z0-9_-]*$/,
  ascii: /^[\x21-\x7e]*$/,
};

async function withSecret() {
  const v = await freshVault();
  const put = await runInProcess(['put', 'DB_PASSWORD'], { env: v.env, input: 'first\n' });
  assert.equal(put.status, 0, put.stderr);
  return v;
}

test('rotate NAME stores a new version from stdin; old versions stay readable with get --version', async () => {
  const v = await withSecret();
  try {
    const r = await runInProcess(['rotate', 'DB_PASSWORD'], { env: v.env, input: 'second\n' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.out, '');
    assert.equal(r.stderr, 'rotated default/DB_PASSWORD to version 2\n');
    assert.equal((await runInProcess(['get', 'DB_PASSWORD'], { env: v.env })).out, 'second');
    assert.equal((await runInProcess(['get', 'DB_PASSWORD', '--version', '1'], { env: v.env })).out, 'first');
    const h = await runInProcess(['history', 'DB_PASSWORD', '--json'], { env: v.env });
    const versions = (JSON.parse(h.out) as { versions: Array<{ version: number; origin: string; current: boolean }> }).versions;
    assert.deepEqual(versions.map((x) => [x.version, x.origin, x.current]), [[1, 'put', false], [2, 'rotate', true]]);
    assert.deepEqual(sql(v.path, `SELECT op, name, version, outcome FROM audit WHERE op = 'rotate'`), [{ op: 'rotate', name: 'DB_PASSWORD', version: 2, outcome: 'ok' }]);
  } finally {
    v.cleanup();
  }
});

test('rotate of a missing secret is 3 and asks for nothing; a removed one too', async () => {
  const v = await withSecret();
  try {
    const r = await runInProcess(['rotate', 'NOPE'], { env: v.env, input: 'x' });
    assert.equal(r.status, 3);
    assert.equal(r.out, '');
    assert.equal(r.stderr, 'vault: error: no secret default/NOPE\nvault: hint: vault put stores a new secret; vault list shows the stored names\n');
    assert.equal((await runInProcess(['rm', 'DB_PASSWORD', '--yes'], { env: v.env })).status, 0);
    const removed = await runInProcess(['rotate', 'DB_PASSWORD', '--generate'], { env: v.env });
    assert.equal(removed.status, 3);
    // the error says it was removed, and the hint how to restore it
    assert.match(removed.stderr, /^vault: error: no secret default\/DB_PASSWORD: it was removed on \d{4}-\d\d-\d\d \d\d:\d\dZ\nvault: hint: vault rollback default\/DB_PASSWORD 1 restores it\n$/);
    assert.equal(sql(v.path, 'SELECT COUNT(*) n FROM versions')[0]!.n, 1);
  } finally {
    v.cleanup();
  }
});

test('--generate makes a value of the exact length from the chosen charset, never printed unless asked', async () => {
  const v = await withSecret();
  try {
    const cases: Array<[string[], number, string]> = [
      [['--generate'], 32, 'alnum'],
      [['--generate=8'], 8, 'alnum'],
      [['--generate', '4096', '--charset', 'ascii'], 4096, 'ascii'],
      [['--generate=300', '--charset', 'alpha'], 300, 'alpha'],
      [['--generate=300', '--charset', 'num'], 300, 'num'],
      [['--generate=300', '--charset', 'hex'], 300, 'hex'],
      [['--generate=300', '--charset', 'base64url'], 300, 'base64url'],
      [['--generate=1000', '--charset', 'ascii'], 1000, 'ascii'],
    ];
    let version = 1;
    for (const [args, length, charset] of cases) {
      const r = await runInProcess(['rotate', 'DB_PASSWORD', ...args], { env: v.env });
      version++;
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.out, '');
      assert.equal(r.stderr, `rotated default/DB_PASSWORD to version ${version} (generated: ${length} ${charset} characters)\n`);
      const got = await runInProcess(['get', 'DB_PASSWORD'], { env: v.env });
      assert.equal(got.stdout.length, length);
      assert.match(got.out, SETS[charset]!, `${charset}: ${got.out}`);
    }
    // Every character of a small set shows up in a long sample (and no other).
    const hex = await runInProcess(['rotate', 'DB_PASSWORD', '--generate=2000', '--charset', 'hex', '--print'], { env: v.env });
    assert.equal(new Set(hex.out).size, 16);
    const detail = sql(v.path, `SELECT detail FROM audit WHERE op = 'rotate' ORDER BY seq DESC LIMIT 1`)[0]!.detail;
    assert.equal(detail, JSON.stringify({ generated: true, length: 2000, charset: 'hex', printed: true }));
    // Nothing of a value enters the audit log.
    assert.equal(sql(v.path, `SELECT COUNT(*) n FROM audit WHERE detail LIKE '%${hex.out.slice(0, 12)}%'`)[0]!.n, 0);
  } finally {
    v.cleanup();
  }
});

test('--print writes the generated value to stdout, exact bytes (no newline in a pipe)', async () => {
  const v = await withSecret();
  try {
    const r = await runInProcess(['rotate', 'DB_PASSWORD', '--generate=40', '--charset', 'base64url', '--print'], { env: v.env });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.out, /^[A-Za-z0-9_-]{40}$/);
    assert.equal(r.stderr, 'rotated default/DB_PASSWORD to version 2 (generated: 40 base64url characters)\n');
    assert.equal((await runInProcess(['get', 'DB_PASSWORD'], { env: v.env })).out, r.out);
    const j = await runInProcess(['rotate', 'DB_PASSWORD', '--generate', '--json'], { env: v.env });
    assert.equal(j.status, 0, j.stderr);
    assert.equal(j.out, JSON.stringify({ ns: 'default', name: 'DB_PASSWORD', version: 3, generated: { length: 32, charset: 'alnum' } }) + '\n');
  } finally {
    v.cleanup();
  }
});

test('bad generation flags are usage errors and change nothing', async () => {
  const v = await withSecret();
  try {
    const before = sql(v.path, 'SELECT secret_id, version, hex(ciphertext) c FROM versions');
    const bad: Array<[string[], string]> = [
      [['--generate=7'], 'vault: error: invalid length "7" for --generate'],
      [['--generate=4097'], 'vault: error: invalid length "4097" for --generate'],
      [['--generate=0x20'], 'vault: error: invalid length "0x20" for --generate'],
      [['--generate', '--charset', 'emoji'], "vault: error: option '--charset <set>' argument 'emoji' is invalid; allowed choices are alnum, alpha, num, hex, base64url, ascii"],
      [['--charset', 'hex'], 'vault: error: --charset needs --generate'],
      [['--print'], 'vault: error: --print needs --generate'],
      [['--generate', '--from-file', '/dev/null'], 'vault: error: --generate cannot be combined with --from-file'],
      [['--master'], 'vault: error: vault rotate --master takes no secret name'],
    ];
    for (const [args, first] of bad) {
      const r = await runInProcess(['rotate', 'DB_PASSWORD', ...args], { env: v.env, input: 'x' });
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.out, '');
      assert.equal(r.stderr.split('\n')[0], first);
    }
    const noName = await runInProcess(['rotate'], { env: v.env });
    assert.equal(noName.status, 2);
    assert.equal(noName.stderr, 'vault: error: missing secret name\nvault: hint: vault rotate NAME, or vault rotate --master for the whole vault\n');
    const mixed = await runInProcess(['rotate', '--master', '--generate'], { env: v.env });
    assert.equal(mixed.status, 2);
    assert.equal(mixed.stderr, 'vault: error: --master cannot be combined with options for one secret\n');
    assert.deepEqual(sql(v.path, 'SELECT secret_id, version, hex(ciphertext) c FROM versions'), before);
  } finally {
    v.cleanup();
  }
});

test('a rotated secret keeps its lifetime unless --ttl or --expires is given', async () => {
  const v = await freshVault();
  try {
    assert.equal((await runInProcess(['put', 'K', '--ttl', '30d'], { env: v.env, input: 'a' })).status, 0);
    assert.equal((await runInProcess(['rotate', 'K', '--generate'], { env: v.env })).status, 0);
    assert.equal((await runInProcess(['rotate', 'K', '--ttl', '2d'], { env: v.env, input: 'c' })).status, 0);
    const rows = sql(v.path, 'SELECT version, expires_at - created_at AS life FROM versions ORDER BY version');
    assert.equal(rows.length, 3);
    // The lifetime carries over exactly; --ttl counts from the command's start and the row's
    // time from the write after unlocking, so those two are close to the duration, not equal.
    assert.equal(rows[1]!.life, rows[0]!.life);
    assert.ok(Math.abs(Number(rows[0]!.life) - 30 * 86_400_000) < 60_000);
    assert.ok(Math.abs(Number(rows[2]!.life) - 2 * 86_400_000) < 60_000);
  } finally {
    v.cleanup();
  }
});
