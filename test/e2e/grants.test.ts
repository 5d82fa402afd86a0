import assert from 'node:assert/strict';
import { test } from 'node:test';
import { authorize } from '../../src/core/grants.js';
import { runInProcess } from '../helpers/cli.js';
import { blob, exec, query } from '../helpers/sqlite.js';
import { cheapVault, openWithKey } from '../helpers/vaults.js';

/**
 * vault grant add|list|rm, --not-secret, vault audit --grant, and the file writer's attacks
 * on grant rows and the not_secret flag, replayed against the real file (python3's sqlite3)
 * and the real CLI: each one is refused with exit 7 and nothing is served.
 */

type V = Awaited<ReturnType<typeof cheapVault>>;

async function withVault(fn: (v: V) => Promise<void>): Promise<void> {
  const v = await cheapVault();
  try {
    await fn(v);
  } finally {
    v.cleanup();
  }
}

async function ok(v: V, args: string[], input?: string): Promise<string> {
  const r = await runInProcess(args, { env: v.env, ...(input !== undefined ? { input } : {}) });
  assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
  return r.out;
}

async function fails(v: V, args: string[], status: number, message: string): Promise<void> {
  const r = await runInProcess(args, { env: v.env });
  assert.equal(r.out, '', 'nothing on stdout');
  assert.equal(r.stderr.split('\n')[0], `vault: error: ${message}`);
  assert.equal(r.status, status, r.stderr);
}

test('grant add validates every option: one line, exit 2; an existing name exit 8; rm of none exit 3', async () => {
  await withVault(async (v) => {
    await fails(v, ['grant', 'add', 'g', '--hosts', 'api.example.com'], 2, 'a grant needs --secrets, --prefix or --ns');
    await ok(v, ['--ns', 'prod', 'grant', 'add', 'whole']);
    await ok(v, ['grant', 'add', 'named', '--ns', 'prod', '--secrets', 'A']);
    const g = JSON.parse(await ok(v, ['grant', 'list', '--json'])) as Array<{ name: string; ns: string | null; secrets: string[] }>;
    assert.deepEqual(g.map((x) => [x.name, x.ns, x.secrets]), [['named', null, ['prod/A']], ['whole', 'prod', []]]);
    await ok(v, ['grant', 'rm', 'named']);
    await ok(v, ['grant', 'rm', 'whole']);
    await fails(v, ['grant', 'add', 'g', '--secrets', 'A', '--hosts', 'https://api.example.com'], 2, 'invalid host "https://api.example.com" for --hosts');
    await fails(v, ['grant', 'add', 'g', '--secrets', 'A', '--rate', '10'], 2, 'invalid --rate "10"');
    await fails(v, ['grant', 'add', 'g', '--secrets', 'A', '--max-uses', '0'], 2, 'invalid --max-uses "0"');
    await fails(v, ['grant', 'add', 'g', '--secrets', 'A', '--ttl', '8h', '--expires', '2099-01-01'], 2, '--ttl and --expires cannot be used together');
    await fails(v, ['grant', 'add', 'g', '--secrets', 'A', '--expires', '2001-01-01'], 2, '--expires 2001-01-01 is in the past');
    await fails(v, ['grant', 'add', 'g', '--secrets', '1BAD'], 2, 'invalid secret name "1BAD"');
    await fails(v, ['grant', 'add', 'bad name', '--secrets', 'A'], 2, 'invalid grant name "bad name"');
    await fails(v, ['grant', 'add', 'g', '--secrets', 'A', '--commands', 'a b'], 2, 'invalid program "a b" for --commands');
    await ok(v, ['grant', 'add', 'g', '--secrets', 'A']);
    await fails(v, ['grant', 'add', 'g', '--secrets', 'B'], 8, 'grant g already exists');
    await fails(v, ['grant', 'rm', 'nope'], 3, 'no grant nope');
    assert.equal(query(v.path, 'SELECT COUNT(*) AS n FROM grants')[0]!.n, 1);
  });
});

test('grant list --json shows every field, uses and last use; --reveal loudly; rm removes; all audited', async () => {
  await withVault(async (v) => {
    await ok(v, ['put', 'API_KEY'], 'v1-secret-value');
    await ok(v, ['grant', 'add', 'ci', '--secrets', 'default/API_KEY,prod/DB_URL', '--ns', 'prod', '--prefix', 'AWS_', '--hosts', 'api.example.com,127.0.0.1:8443', '--commands', 'curl,npm', '--expires', '2099-01-31', '--max-uses', '10', '--rate', '5/min']);
    const r = await runInProcess(['grant', 'add', 'peek', '--secrets', 'API_KEY', '--reveal'], { env: v.env });
    assert.equal(r.status, 0);
    assert.equal(r.stderr.split('\n')[0], 'vault: warning: grant peek has --reveal: the agent can read the values of its secrets');
    const vault = await openWithKey(v);
    try {
      const a = authorize(vault, 'ci', { tool: 'run_command', reason: 'test', names: ['API_KEY'], use: true });
      assert.equal(a.secrets[0]!.value!.toString(), 'v1-secret-value');
    } finally {
      vault.close();
    }
    const list = JSON.parse(await ok(v, ['grant', 'list', '--json'])) as Array<Record<string, unknown>>;
    assert.equal(list.length, 2);
    const { created, lastUsed, ...ci } = list[0]!;
    assert.match(String(created), /^\d{4}-\d\d-\d\dT/);
    assert.match(String(lastUsed), /^\d{4}-\d\d-\d\dT/);
    assert.deepEqual(ci, {
      name: 'ci', state: 'active', secrets: ['default/API_KEY', 'prod/DB_URL'], ns: 'prod', prefix: 'AWS_', hosts: ['api.example.com', '127.0.0.1:8443'],
      commands: ['curl', 'npm'], expires: '2099-01-31T00:00:00.000Z', maxUses: 10, uses: 1, rate: '5/min', reveal: false,
    });
    assert.equal(list[1]!.reveal, true);
    const text = await ok(v, ['grant', 'list']);
    assert.match(text, /^ci {2}active {2}uses 1\/10 {2}last used \d{4}-.* {2}expires 2099-01-31 00:00Z {2}rate 5\/min\n {2}secrets: default\/API_KEY,prod\/DB_URL,prod\/AWS_\*\n {2}hosts: api.example.com,127.0.0.1:8443\n {2}commands: curl,npm\npeek /);
    assert.match(text, /\n {2}REVEAL: get_secret gives the agent these VALUES\n$/);
    await ok(v, ['grant', 'rm', 'peek']);
    assert.deepEqual((JSON.parse(await ok(v, ['grant', 'list', '--json'])) as Array<{ name: string }>).map((g) => g.name), ['ci']);
    const audit = (await ok(v, ['audit', '--grant', 'peek', '--json'])).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { op: string; outcome: string });
    assert.deepEqual(audit.map((e) => [e.op, e.outcome]), [['grant-add', 'ok'], ['grant-rm', 'ok']]);
    const uses = (await ok(v, ['audit', '--grant', 'ci', '--op', 'mcp', '--json'])).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { detail: Record<string, unknown> });
    assert.deepEqual(uses.map((e) => e.detail), [{ grant: 'ci', tool: 'run_command', reason: 'test', secrets: ['default/API_KEY'] }]);
  });
});

test('--not-secret on put and import is shown by list and list --json', async () => {
  await withVault(async (v) => {
    await ok(v, ['put', 'PORT', '--not-secret'], '8080');
    await ok(v, ['put', 'TOKEN'], 'abcdef123456');
    await ok(v, ['--ns', 'cfg', 'import', '-', '--not-secret'], 'NODE_ENV=production\nLOG_LEVEL=debug\n');
    const all = JSON.parse(await ok(v, ['list', '--json', '--all-ns'])) as Array<{ ns: string; name: string; notSecret: boolean }>;
    assert.deepEqual(all.map((i) => [i.ns, i.name, i.notSecret]), [['cfg', 'LOG_LEVEL', true], ['cfg', 'NODE_ENV', true], ['default', 'PORT', true], ['default', 'TOKEN', false]]);
    // a new version without the flag is secret again; exec --mask leaves a not-secret value alone
    const r = await runInProcess(['exec', '--mask', '--', 'sh', '-c', 'echo "$PORT $TOKEN"'], { env: v.env });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.out, '8080 *****\n');
    await ok(v, ['put', 'PORT', '--force'], '8080');
    assert.equal((JSON.parse(await ok(v, ['list', '--json'])) as Array<{ name: string; notSecret: boolean }>).find((i) => i.name === 'PORT')!.notSecret, false);
  });
});

test('attack: a grant row edited in the file (hosts widened, uses reset) is refused, exit 7', async () => {
  await withVault(async (v) => {
    await ok(v, ['put', 'API_KEY'], 'x-value-123');
    await ok(v, ['grant', 'add', 'g', '--secrets', 'API_KEY', '--hosts', 'api.example.com', '--max-uses', '1']);
    exec(v.path, `UPDATE grants SET hosts = '["evil.example"]' WHERE name = 'g'`);
    await fails(v, ['grant', 'list'], 7, 'grant g failed its integrity check: its record was edited or rolled back');
    await fails(v, ['mcp', '--grant', 'g'], 7, 'grant g failed its integrity check: its record was edited or rolled back');
  });
});

test('attack: a grant row deleted, planted, or rolled back to before a use is refused at unlock, exit 7', async () => {
  const STATE = "the vault's secrets or key slots do not match its state record: rows were rolled back, removed, added or edited";
  await withVault(async (v) => {
    await ok(v, ['put', 'API_KEY'], 'x-value-123');
    await ok(v, ['grant', 'add', 'g', '--secrets', 'API_KEY', '--max-uses', '1']);
    const before = query(v.path, `SELECT * FROM grants WHERE name = 'g'`)[0]!;
    const vault = await openWithKey(v);
    try {
      authorize(vault, 'g', { tool: 'run_command', reason: 'r', names: null, use: true }).secrets.forEach((s) => s.value!.fill(0));
    } finally {
      vault.close();
    }
    assert.equal(query(v.path, `SELECT uses FROM grants WHERE name = 'g'`)[0]!.uses, 1);
    // roll the row back to its authentic earlier self: uses 0, MAC valid
    exec(v.path, 'UPDATE grants SET uses = ?, last_used_at = ?, recent = ?, mac = ? WHERE name = ?', [before.uses as number, before.last_used_at as number | null, String(before.recent), blob(before.mac), 'g']);
    await fails(v, ['grant', 'list'], 7, STATE);
    await fails(v, ['get', 'API_KEY'], 7, STATE);
  });
  await withVault(async (v) => {
    await ok(v, ['put', 'API_KEY'], 'x-value-123');
    await ok(v, ['grant', 'add', 'g', '--secrets', 'API_KEY']);
    exec(v.path, `DELETE FROM grants WHERE name = 'g'`);
    await fails(v, ['get', 'API_KEY'], 7, STATE);
  });
  await withVault(async (v) => {
    await ok(v, ['put', 'API_KEY'], 'x-value-123');
    await ok(v, ['grant', 'add', 'g', '--secrets', 'API_KEY']);
    const row = query(v.path, `SELECT * FROM grants WHERE name = 'g'`)[0]!;
    exec(v.path, `INSERT INTO grants (name, uid, secrets, ns, prefix, hosts, commands, expires_at, max_uses, rate, reveal, created_at, uses, last_used_at, recent, mac)
      VALUES ('planted', ?, ?, NULL, NULL, '["evil.example"]', NULL, NULL, NULL, NULL, 1, ?, 0, NULL, '[]', ?)`, [blob(row.uid), String(row.secrets), row.created_at as number, blob(row.mac)]);
    await fails(v, ['mcp', '--grant', 'planted'], 7, STATE);
  });
});

test('attack: flipping not_secret in the file (to switch masking off) is refused, exit 7', async () => {
  await withVault(async (v) => {
    await ok(v, ['put', 'TOKEN'], 'abcdef123456');
    exec(v.path, `UPDATE secrets SET not_secret = 1 WHERE name = 'TOKEN'`);
    await fails(v, ['exec', '--mask', '--', 'true'], 7, 'secret default/TOKEN failed its integrity check: its record was edited or rolled back');
    await fails(v, ['get', 'TOKEN'], 7, 'secret default/TOKEN failed its integrity check: its record was edited or rolled back');
  });
});

test('rotate --master re-MACs the grants: they keep verifying, uses and all', async () => {
  await withVault(async (v) => {
    await ok(v, ['put', 'API_KEY'], 'x-value-123');
    await ok(v, ['grant', 'add', 'g', '--secrets', 'API_KEY', '--max-uses', '3']);
    const before = query(v.path, `SELECT mac FROM grants WHERE name = 'g'`)[0]!;
    await ok(v, ['rotate', '--master']);
    assert.notDeepEqual(query(v.path, `SELECT mac FROM grants WHERE name = 'g'`)[0]!.mac, before.mac);
    const list = JSON.parse(await ok(v, ['grant', 'list', '--json'])) as Array<{ name: string; maxUses: number; uses: number }>;
    assert.deepEqual(list.map((g) => [g.name, g.maxUses, g.uses]), [['g', 3, 0]]);
  });
});
