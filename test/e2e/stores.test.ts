import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runInProcess, runVault } from '../helpers/cli.js';
import { startMcp } from '../helpers/mcp.js';
import { startCluster, type PgCluster } from '../helpers/pg.js';
import { cheapVault, openWithKey } from '../helpers/vaults.js';
import { idleWorkers } from '../../src/store/pg/bridge.js';
import { PG_SCHEMA_VERSION } from '../../src/store/pg/schema.js';
import { SCHEMA_VERSION } from '../../src/store/schema.js';

/**
 * The same cases against both stores (src/store/store.ts): a SQLite file and a vault in a
 * real PostgreSQL cluster started for this file (test/helpers/pg.ts). Each case is written
 * once and run for each store; the outputs must be the same, byte for byte.
 */

let cluster: PgCluster;
before(() => {
  cluster = startCluster();
});
after(() => cluster?.destroy());

type V = Awaited<ReturnType<typeof cheapVault>>;
const STORES = ['file', 'postgres'] as const;

function makeVault(store: (typeof STORES)[number], name: string): Promise<V> {
  return cheapVault(store === 'file' ? {} : { location: cluster.url(name) });
}

for (const store of STORES) {
  describe(`${store} store`, () => {
    let v: V;
    before(async () => {
      v = await makeVault(store, 'cases');
    });
    after(() => v?.cleanup());
    const run = (args: string[], input?: string): ReturnType<typeof runInProcess> => runInProcess(args, { env: v.env, ...(input !== undefined ? { input } : {}) });

    test('put, get, list, history, rm, rollback: exact outputs', async () => {
      let r = await run(['put', 'TOKEN'], 'abc123\n');
      assert.deepEqual([r.status, r.stderr, r.out], [0, 'stored default/TOKEN version 1\n', '']);
      r = await run(['put', 'TOKEN'], 'x\n');
      assert.equal(r.status, 8);
      assert.equal(r.stderr, 'vault: error: secret default/TOKEN already exists\nvault: hint: use --force to store a new version, or vault rotate\n');
      r = await run(['put', 'TOKEN', '--force'], 'second\n');
      assert.deepEqual([r.status, r.stderr], [0, 'stored default/TOKEN version 2\n']);
      r = await run(['get', 'TOKEN']);
      assert.deepEqual([r.status, r.out, r.stderr], [0, 'second', '']);
      r = await run(['get', 'TOKEN', '--version', '1']);
      assert.deepEqual([r.status, r.out], [0, 'abc123']);
      r = await run(['put', 'ci/NPM'], 'npm\n');
      assert.equal(r.status, 0);
      r = await run(['list']);
      assert.deepEqual([r.status, r.out], [0, 'TOKEN\n']);
      r = await run(['list', '--all-ns']);
      assert.deepEqual([r.status, r.out], [0, 'ci/NPM\ndefault/TOKEN\n']);
      r = await run(['history', 'TOKEN']);
      assert.equal(r.status, 0);
      assert.match(r.out, /^1\t\d{4}-\d\d-\d\dT[0-9:.]+Z\tput\n2\t\d{4}-\d\d-\d\dT[0-9:.]+Z\tput\tcurrent\n$/);
      r = await run(['rm', 'TOKEN', '--yes']);
      assert.deepEqual([r.status, r.stderr], [0, 'removed default/TOKEN; its versions are kept until vault rm --purge\n']);
      r = await run(['get', 'TOKEN']);
      assert.equal(r.status, 3);
      assert.match(r.stderr, /^vault: error: no secret default\/TOKEN: it was removed on \d{4}-\d\d-\d\d \d\d:\d\dZ\nvault: hint: vault rollback default\/TOKEN 2 restores it\n$/);
      r = await run(['rollback', 'TOKEN', '1']);
      assert.deepEqual([r.status, r.stderr], [0, 'default/TOKEN version 3 now equals version 1\n']);
      r = await run(['get', 'TOKEN']);
      assert.deepEqual([r.status, r.out], [0, 'abc123']);
    });

    test('rotate, rotate --master, and the audit chain verifies across them', async () => {
      let r = await run(['put', 'ROT'], 'one\n');
      assert.equal(r.status, 0);
      r = await run(['rotate', 'ROT'], 'two\n');
      assert.deepEqual([r.status, r.stderr], [0, 'rotated default/ROT to version 2\n']);
      r = await run(['rotate', '--master']);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /^rotated the data key: re-encrypted \d+ versions, re-wrapped 2 key slots/);
      r = await run(['get', 'ROT']);
      assert.deepEqual([r.status, r.out], [0, 'two']);
      r = await run(['get', 'ROT', '--version', '1']);
      assert.deepEqual([r.status, r.out], [0, 'one']);
      r = await run(['audit', 'verify']);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /^audit log verified: \d+ entries\n$/);
      r = await run(['audit', '--json', '--op', 'rotate-master']);
      assert.equal(r.status, 0);
      const entries = r.out.trim().split('\n').map((line) => JSON.parse(line) as { op: string; outcome: string });
      assert.deepEqual(entries.map((e) => [e.op, e.outcome]), [['rotate-master', 'ok']]);
    });

    test('import, env, export and exec see the same secrets', async () => {
      const file = join(v.dir, 'in.env');
      writeFileSync(file, 'A_ONE=1\nB_TWO="two words"\n');
      let r = await runInProcess(['import', file, '--ns', 'app'], { env: v.env });
      assert.deepEqual([r.status, r.stderr], [0, 'imported 2 secrets into app\n']);
      r = await runInProcess(['env', '--ns', 'app', '--format', 'json'], { env: v.env });
      assert.deepEqual([r.status, r.out], [0, '{"A_ONE":"1","B_TWO":"two words"}\n']);
      r = await runInProcess(['export', '--ns', 'app'], { env: v.env });
      assert.equal(r.status, 0);
      assert.equal(r.out, "A_ONE='1'\nB_TWO='two words'\n");
      // exec in a real child process, as a script would run it
      const x = await runVault(['exec', '--ns', 'app', '--', process.execPath, '-e', 'process.stdout.write(process.env.A_ONE + "|" + process.env.B_TWO)'], { env: v.env });
      assert.deepEqual([x.status, x.out], [0, '1|two words']);
    });

    test('grant add, list, rm and audit --grant: exact outputs', async () => {
      let r = await run(['put', 'G_KEY'], 'k-123456\n');
      assert.equal(r.status, 0, r.stderr);
      r = await run(['grant', 'add', 'bot', '--secrets', 'G_KEY', '--hosts', 'api.example.com', '--commands', 'node', '--max-uses', '5']);
      assert.deepEqual([r.status, r.out, r.stderr], [0, '', 'made grant bot: use it with vault mcp --grant bot\n']);
      r = await run(['grant', 'add', 'bot', '--secrets', 'G_KEY']);
      assert.deepEqual([r.status, r.stderr.split('\n')[0]], [8, 'vault: error: grant bot already exists']);
      r = await run(['grant', 'list']);
      assert.deepEqual([r.status, r.out], [0, 'bot  active  uses 0/5  last used -  expires -  rate any\n  secrets: default/G_KEY\n  hosts: api.example.com\n  commands: node\n']);
      r = await run(['grant', 'list', '--json']);
      assert.equal(r.status, 0);
      const [g] = JSON.parse(r.out) as Array<Record<string, unknown>>;
      assert.deepEqual([g!.name, g!.state, g!.secrets, g!.hosts, g!.commands, g!.maxUses, g!.uses, g!.reveal], ['bot', 'active', ['default/G_KEY'], ['api.example.com'], ['node'], 5, 0, false]);
      r = await run(['grant', 'rm', 'bot']);
      assert.deepEqual([r.status, r.stderr], [0, 'removed grant bot\n']);
      r = await run(['grant', 'rm', 'bot']);
      assert.deepEqual([r.status, r.stderr.split('\n')[0]], [3, 'vault: error: no grant bot']);
      r = await run(['grant', 'list']);
      assert.deepEqual([r.status, r.out, r.stderr], [0, '', 'no grants\n']);
      r = await run(['audit', '--grant', 'bot', '--json']);
      assert.equal(r.status, 0, r.stderr);
      const entries = r.out.trim().split('\n').map((line) => JSON.parse(line) as { op: string; outcome: string; detail: { grant: string } });
      assert.deepEqual(entries.map((e) => [e.op, e.outcome, e.detail.grant]), [['grant-add', 'ok', 'bot'], ['grant-rm', 'ok', 'bot']]);
      r = await run(['audit', '--grant', 'bot', '--limit', '1', '--json']);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(r.out.trim().split('\n').map((line) => (JSON.parse(line) as { op: string }).op), ['grant-rm']);
      r = await run(['audit', 'verify']);
      assert.equal(r.status, 0, r.stderr);
    });

    test('put --not-secret: list shows it, exec --mask leaves it alone, a later put without it makes it secret', async () => {
      let r = await run(['--ns', 'ns1', 'put', 'PORT', '--not-secret'], '8080\n');
      assert.deepEqual([r.status, r.stderr], [0, 'stored ns1/PORT version 1\n']);
      r = await run(['--ns', 'ns1', 'put', 'TOKEN'], 'tok-abcdef\n');
      assert.equal(r.status, 0, r.stderr);
      r = await run(['--ns', 'ns1', 'list', '--json']);
      assert.equal(r.status, 0);
      assert.deepEqual((JSON.parse(r.out) as Array<{ name: string; notSecret: boolean }>).map((i) => [i.name, i.notSecret]), [['PORT', true], ['TOKEN', false]]);
      const x = await runVault(['--ns', 'ns1', 'exec', '--mask', '--', process.execPath, '-e', 'process.stdout.write(process.env.PORT + "|" + process.env.TOKEN)'], { env: v.env });
      assert.deepEqual([x.status, x.out], [0, '8080|*****']);
      r = await run(['--ns', 'ns1', 'put', 'PORT', '--force'], '9090\n');
      assert.equal(r.status, 0, r.stderr);
      r = await run(['--ns', 'ns1', 'list', '--json']);
      assert.deepEqual((JSON.parse(r.out) as Array<{ name: string; notSecret: boolean }>).map((i) => [i.name, i.notSecret]), [['PORT', false], ['TOKEN', false]]);
    });

    test('mv: the value and history follow the name; a taken name is 8; recorded as mv', async () => {
      let r = await run(['put', 'OLD_NAME'], 'first\n');
      assert.equal(r.status, 0, r.stderr);
      r = await run(['put', 'OLD_NAME', '--force'], 'second\n');
      assert.equal(r.status, 0, r.stderr);
      r = await run(['put', 'TAKEN'], 't\n');
      assert.equal(r.status, 0, r.stderr);
      r = await run(['mv', 'OLD_NAME', 'moved/NEW_NAME']);
      assert.deepEqual([r.status, r.out, r.stderr], [0, '', 'moved default/OLD_NAME to moved/NEW_NAME\n']);
      r = await run(['get', 'moved/NEW_NAME']);
      assert.deepEqual([r.status, r.out], [0, 'second']);
      r = await run(['get', 'moved/NEW_NAME', '--version', '1']);
      assert.deepEqual([r.status, r.out], [0, 'first']);
      r = await run(['get', 'OLD_NAME']);
      assert.deepEqual([r.status, r.stderr], [3, 'vault: error: no secret default/OLD_NAME\nvault: hint: vault list shows the stored names\n']);
      r = await run(['mv', 'TAKEN', 'moved/NEW_NAME']);
      assert.deepEqual([r.status, r.stderr], [8, 'vault: error: secret moved/NEW_NAME already exists\nvault: hint: choose another name, or move that one away first (vault mv moved/NEW_NAME NEW)\n']);
      r = await run(['audit', '--op', 'mv', '--json']);
      assert.equal(r.status, 0);
      const entries = r.out.trim().split('\n').map((line) => JSON.parse(line) as { ns: string; name: string; version: number; outcome: string; detail: unknown });
      assert.deepEqual(entries.map((e) => [e.ns, e.name, e.version, e.outcome, e.detail]), [['default', 'OLD_NAME', 2, 'ok', { to: 'moved/NEW_NAME' }]]);
      r = await run(['audit', 'verify']);
      assert.equal(r.status, 0, r.stderr);
    });

    test('vault mcp: a run_command use is masked, counted in the grant row and audited', async () => {
      let r = await run(['--ns', 'agent', 'put', 'API_KEY'], 'sk-live-9f8e7d6c5b4a3210\n');
      assert.equal(r.status, 0, r.stderr);
      r = await run(['grant', 'add', 'agent', '--ns', 'agent', '--commands', 'node', '--max-uses', '3']);
      assert.equal(r.status, 0, r.stderr);
      const m = await startMcp('agent', v.env);
      try {
        const call = await m.call('run_command', { command: ['node', '-e', 'process.stdout.write("k=" + process.env.API_KEY)'], reason: 'try the key' });
        assert.equal(call.isError, false, call.text);
        assert.deepEqual([call.json.exit_code, call.json.stdout, call.json.injected], [0, 'k=*****', ['API_KEY']]);
        assert.deepEqual(m.errors.map((e) => e.message), []);
      } finally {
        await m.close();
      }
      r = await run(['grant', 'list', '--json']);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual((JSON.parse(r.out) as Array<{ name: string; uses: number }>).map((g) => [g.name, g.uses]), [['agent', 1]]);
      r = await run(['audit', '--grant', 'agent', '--op', 'mcp', '--json']);
      assert.equal(r.status, 0, r.stderr);
      const entries = r.out.trim().split('\n').map((line) => JSON.parse(line) as { outcome: string; detail: { tool: string; secrets: string[] } });
      assert.deepEqual(entries.map((e) => [e.outcome, e.detail.tool, e.detail.secrets]), [['ok', 'run_command', ['agent/API_KEY']]]);
    });

    test('a session: vault unlock once, then get, exec and status need no key; vault lock ends it', async () => {
      let r = await run(['put', 'SESS'], 'in-session\n');
      assert.equal(r.status, 0, r.stderr);
      const runtime = join(v.dir, `run-${store}`);
      mkdirSync(runtime, { mode: 0o700 });
      chmodSync(runtime, 0o700);
      const bare = { VAULT_PATH: v.path, XDG_RUNTIME_DIR: runtime, ...(v.env.XDG_STATE_HOME !== undefined ? { XDG_STATE_HOME: v.env.XDG_STATE_HOME } : {}) };
      let pid = 0;
      try {
        r = await runInProcess(['unlock', '--json'], { env: { ...bare, VAULT_MASTER_KEY: v.masterKey } });
        assert.equal(r.status, 0, r.stderr);
        pid = (JSON.parse(r.out) as { pid: number }).pid;
        r = await runInProcess(['get', 'SESS'], { env: bare });
        assert.deepEqual([r.status, r.out, r.stderr], [0, 'in-session', '']);
        const x = await runVault(['exec', '--', process.execPath, '-e', 'process.stdout.write(process.env.SESS)'], { env: bare });
        assert.deepEqual([x.status, x.out], [0, 'in-session']);
        r = await runInProcess(['status', '--json'], { env: bare });
        assert.equal(r.status, 0, r.stderr);
        assert.equal((JSON.parse(r.out) as { session: { state: string } }).session.state, 'unlocked');
        r = await runInProcess(['lock'], { env: bare });
        assert.equal(r.status, 0, r.stderr);
        r = await runInProcess(['get', 'SESS'], { env: bare });
        assert.equal(r.status, 4, r.stderr);
      } finally {
        if (pid > 0) {
          try {
            process.kill(pid, 'SIGTERM');
          } catch {
            // ended by vault lock
          }
        }
      }
    });

    test('status --json: the store, the schema, the slots and counts; works locked', async () => {
      const r = await runInProcess(['status', '--json'], { env: { VAULT_PATH: v.path, XDG_STATE_HOME: v.state } });
      assert.equal(r.status, 0, r.stderr);
      const st = JSON.parse(r.out) as Record<string, unknown>;
      assert.equal(st.store, store === 'postgres' ? 'postgres' : undefined);
      assert.equal(st.schemaVersion, store === 'postgres' ? PG_SCHEMA_VERSION : SCHEMA_VERSION);
      assert.deepEqual((st.slots as Array<{ kind: string }>).map((s) => s.kind), ['passphrase', 'master-key']);
      assert.equal(st.path, v.path);
    });

    test('--vault works as VAULT_PATH does, in a child process', async () => {
      const r = await runVault(['--vault', v.path, 'list', '--ns', 'app'], { env: { VAULT_MASTER_KEY: v.masterKey, XDG_STATE_HOME: v.state } });
      assert.deepEqual([r.status, r.out, r.stderr], [0, 'A_ONE\nB_TWO\n', '']);
    });

    test('init on an existing vault: 8, before any passphrase is derived', async () => {
      const r = await runInProcess(['init'], { env: { VAULT_PATH: v.path, VAULT_PASSPHRASE: 'whatever-long' } });
      assert.equal(r.status, 8);
      assert.equal(r.stderr, `vault: error: a vault already exists at ${v.path}\nvault: hint: use it, or choose another path with --vault\n`);
    });
  });
}

test('postgres: a vault name with nothing there is not-initialized (6); a bad name is usage (2)', async () => {
  let r = await runInProcess(['get', 'X'], { env: { VAULT_PATH: cluster.url('nothing_here'), VAULT_MASTER_KEY: 'vault1-x' } });
  assert.equal(r.status, 6);
  assert.equal(r.stderr, `vault: error: no vault at ${cluster.url('nothing_here')}\nvault: hint: create one with: vault init --vault '${cluster.url('nothing_here')}'\n`);
  r = await runInProcess(['list'], { env: { VAULT_PATH: cluster.url('Bad-Name') } });
  assert.equal(r.status, 2);
  assert.equal(r.stderr, 'vault: error: the vault name "Bad-Name" in the URL is not valid\nvault: hint: a vault name is 1 to 48 of a-z, 0-9 and _ (?vault=team)\n');
});

test('postgres: a process reuses the worker thread of a vault it closed; two open at once have two; a stopped server is still unreachable', async () => {
  const a = await makeVault('postgres', 'reuse_a');
  const b = await makeVault('postgres', 'reuse_b');
  try {
    assert.equal((await runInProcess(['put', 'A'], { env: a.env, input: 'a-value' })).status, 0);
    const [first] = idleWorkers().slice(-1);
    assert.ok(first !== undefined);
    const before = idleWorkers().length;
    const r = await runInProcess(['get', 'A'], { env: a.env });
    assert.deepEqual([r.status, r.out, r.stderr], [0, 'a-value', '']);
    // the get took the idle worker and gave it back: no new thread
    assert.deepEqual(idleWorkers().slice(-1), [first]);
    assert.equal(idleWorkers().length, before);
    // two vaults open at once: two workers, both idle afterwards (at most two are kept)
    const [x, y] = await Promise.all([openWithKey(a), openWithKey(b)]);
    x.close();
    y.close();
    assert.equal(idleWorkers().length, 2);
    cluster.stop('fast');
    try {
      const down = await runInProcess(['get', 'A'], { env: a.env });
      assert.equal(down.status, 1);
      assert.equal(
        down.stderr,
        `vault: error: cannot reach the vault server at ${cluster.url('reuse_a')}: connect ENOENT ${cluster.socket}/.s.PGSQL.5432\n` +
          'vault: hint: check that the server is running and reachable; nothing was changed by this command unless it said so\n',
      );
    } finally {
      cluster.start();
    }
    const back = await runInProcess(['get', 'A'], { env: a.env });
    assert.deepEqual([back.status, back.out], [0, 'a-value']);
  } finally {
    a.cleanup();
    b.cleanup();
  }
});

test('postgres: two vaults in one database are separate (own schema, own secrets)', async () => {
  const a = await makeVault('postgres', 'team_a');
  const b = await makeVault('postgres', 'team_b');
  try {
    assert.equal((await runInProcess(['put', 'ONLY_A'], { env: a.env, input: 'a\n' })).status, 0);
    const r = await runInProcess(['list'], { env: b.env });
    assert.deepEqual([r.status, r.out], [0, '']);
    assert.equal(cluster.psql(`SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace WHERE nspname LIKE 'vault\\_team%'`).trim(), 'vault_team_a,vault_team_b');
  } finally {
    a.cleanup();
    b.cleanup();
  }
});

test('postgres: a grant row or a not_secret flag edited on the server is refused (7)', async () => {
  const v = await makeVault('postgres', 'grant_atk');
  const run = (args: string[], input?: string): ReturnType<typeof runInProcess> => runInProcess(args, { env: v.env, ...(input !== undefined ? { input } : {}) });
  try {
    assert.equal((await run(['put', 'KEY'], 'k-123456\n')).status, 0);
    assert.equal((await run(['grant', 'add', 'bot', '--secrets', 'KEY', '--max-uses', '2'])).status, 0);
    // the server raises the grant's limit
    cluster.psql(`UPDATE vault_grant_atk.grants SET max_uses = 1000 WHERE name = 'bot'`);
    let r = await run(['grant', 'list']);
    assert.deepEqual([r.status, r.out, r.stderr.split('\n')[0]], [7, '', 'vault: error: grant bot failed its integrity check: its record was edited or rolled back']);
    cluster.psql(`UPDATE vault_grant_atk.grants SET max_uses = 2 WHERE name = 'bot'`);
    assert.equal((await run(['grant', 'list'])).status, 0);
    // the server deletes the grant row: the state record no longer matches
    const saved = cluster.psql(`SELECT id FROM vault_grant_atk.grants WHERE name = 'bot'`).trim();
    cluster.psql(`CREATE TABLE vault_grant_atk.saved AS SELECT * FROM vault_grant_atk.grants; DELETE FROM vault_grant_atk.grants WHERE id = ${saved}`);
    r = await run(['get', 'KEY']);
    assert.deepEqual([r.status, r.out, r.stderr.split('\n')[0]], [7, '', "vault: error: the vault's secrets or key slots do not match its state record: rows were rolled back, removed, added or edited"]);
    cluster.psql(`INSERT INTO vault_grant_atk.grants SELECT * FROM vault_grant_atk.saved; DROP TABLE vault_grant_atk.saved`);
    r = await run(['get', 'KEY']);
    assert.deepEqual([r.status, r.out], [0, 'k-123456']);
    // the server marks a secret not-secret (masking would leave it in an agent's output)
    cluster.psql(`UPDATE vault_grant_atk.secrets SET not_secret = 1 WHERE name = 'KEY'`);
    r = await run(['get', 'KEY']);
    assert.deepEqual([r.status, r.out, r.stderr.split('\n')[0]], [7, '', 'vault: error: secret default/KEY failed its integrity check: its record was edited or rolled back']);
  } finally {
    v.cleanup();
  }
});
