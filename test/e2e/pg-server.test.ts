import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { BIN, ROOT, runCommand, runInProcess, runVault } from '../helpers/cli.js';
import { startCluster, type PgCluster } from '../helpers/pg.js';
import { cheapVault } from '../helpers/vaults.js';
import { parseMasterKey } from '../../src/unlock/masterkey.js';
import { PG_SCHEMA_VERSION } from '../../src/store/pg/schema.js';

/**
 * Concurrency: 8 processes on 2 clients, two rotate --master at once.
 * The PostgreSQL server as the attacker of docs/security.md (the "file writer"): it holds
 * every row and edits them with psql as it likes. Each edit is refused (exit 7) or found by
 * `audit verify`; the server never sees a value or a key. Also: the server stopped and
 * restarted (exit 1, nothing half-written; transparent afterwards).
 */

let cluster: PgCluster;
before(() => {
  cluster = startCluster();
});
after(() => cluster?.destroy());

type V = Awaited<ReturnType<typeof cheapVault>>;
let n = 0;
async function pgVault(): Promise<V & { schema: string }> {
  const name = `atk${++n}`;
  return { ...(await cheapVault({ location: cluster.url(name) })), schema: `vault_${name}` };
}

async function ok(v: V, args: string[], input?: string): Promise<string> {
  const r = await runInProcess(args, { env: v.env, ...(input !== undefined ? { input } : {}) });
  assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
  return r.out;
}

async function refused(v: V, args: string[], message: RegExp): Promise<void> {
  const r = await runInProcess(args, { env: v.env });
  assert.equal(r.status, 7, `${args.join(' ')}: ${r.stderr}`);
  assert.equal(r.out, '');
  assert.match(r.stderr, message);
}

test('zero knowledge: a pg_dump of the whole database holds no value, passphrase or key, in any encoding', async () => {
  const v = await pgVault();
  try {
    const value = `zk-${randomBytes(12).toString('hex')}`;
    await ok(v, ['put', 'ZK'], value + '\n');
    await ok(v, ['rotate', 'ZK'], value + '-2\n');
    await ok(v, ['rotate', '--master']);
    const dump = cluster.dump();
    assert.match(dump, /CREATE TABLE vault_atk\d+\.versions/, 'the dump has the vault\'s tables');
    const raw = parseMasterKey(v.masterKey, 'test');
    const needles: Array<[string, string]> = [];
    for (const [what, bytes] of [['value', Buffer.from(value)], ['master key', raw], ['passphrase', Buffer.from('correct horse battery staple')]] as Array<[string, Buffer]>) {
      needles.push([`${what} as text`, bytes.toString('latin1')], [`${what} as hex`, bytes.toString('hex')], [`${what} as base64`, bytes.toString('base64').replace(/=+$/, '')], [`${what} as base64url`, bytes.toString('base64url')]);
    }
    needles.push(['the master key as printed', v.masterKey]);
    for (const [what, needle] of needles) assert.equal(dump.toLowerCase().includes(needle.toLowerCase()), false, `${what} found in the dump`);
    // what the server does hold: names, public metadata, ciphertexts
    assert.equal(cluster.psql(`SELECT ns || '/' || name FROM ${'vault_atk' + n}.secrets`).trim(), 'default/ZK');
  } finally {
    v.cleanup();
  }
});

test('the server swaps two ciphertexts: get refuses both with 7', async () => {
  const v = await pgVault();
  try {
    await ok(v, ['put', 'A'], 'alpha\n');
    await ok(v, ['put', 'B'], 'bravo\n');
    cluster.psql(`
      UPDATE ${v.schema}.versions x SET nonce = y.nonce, ciphertext = y.ciphertext
        FROM ${v.schema}.versions y WHERE x.secret_id <> y.secret_id;`);
    await refused(v, ['get', 'A'], /^vault: error: secret default\/A version 1 failed its integrity check\n/);
    await refused(v, ['get', 'B'], /^vault: error: secret default\/B version 1 failed its integrity check\n/);
  } finally {
    v.cleanup();
  }
});

test('the server plants a key slot (a copy of one, under a new id): every unlock refuses with 7', async () => {
  const v = await pgVault();
  try {
    await ok(v, ['put', 'A'], 'alpha\n');
    cluster.psql(`INSERT INTO ${v.schema}.slots SELECT 'deadbeef', kind, 'planted', kdf, kdf_params, salt, nonce, wrapped_key, created_at, NULL, public_key, ephemeral_key, key_mac, wrap_format, pending FROM ${v.schema}.slots WHERE kind = 'master-key';`);
    await refused(v, ['get', 'A'], /^vault: error: key slot deadbeef failed its integrity check/);
  } finally {
    v.cleanup();
  }
});

test('the server rolls one secret back to an older row (its own valid MAC): 7', async () => {
  const v = await pgVault();
  try {
    await ok(v, ['put', 'A'], 'one\n');
    const old = cluster.psql(`SELECT current_version, highest_version, updated_at, encode(mac, 'hex') FROM ${v.schema}.secrets WHERE name = 'A'`).trim().split('|');
    await ok(v, ['rotate', 'A'], 'two\n');
    cluster.psql(`UPDATE ${v.schema}.secrets SET current_version = ${old[0]}, highest_version = ${old[1]}, updated_at = ${old[2]}, mac = decode('${old[3]}', 'hex') WHERE name = 'A';
      DELETE FROM ${v.schema}.versions WHERE version = 2;`);
    await refused(v, ['get', 'A'], /^vault: error: the vault's secrets or key slots do not match its state record: rows were rolled back, removed, added or edited\n/);
  } finally {
    v.cleanup();
  }
});

test('the server drops or reorders audit rows: audit verify finds it (7)', async () => {
  const v = await pgVault();
  try {
    for (const name of ['A', 'B', 'C']) await ok(v, ['put', name], `${name}\n`);
    await ok(v, ['get', 'A']);
    await ok(v, ['audit', 'verify']);
    const seqs = cluster.psql(`SELECT seq FROM ${v.schema}.audit ORDER BY seq`).trim().split('\n').map(Number);
    const mid = seqs[2]!;
    cluster.psql(`CREATE TABLE ${v.schema}.saved AS SELECT * FROM ${v.schema}.audit WHERE seq = ${mid}; DELETE FROM ${v.schema}.audit WHERE seq = ${mid};`);
    await refused(v, ['audit', 'verify'], new RegExp(`entry #${mid} was deleted`));
    // put it back, then swap two entries' places
    cluster.psql(`INSERT INTO ${v.schema}.audit SELECT * FROM ${v.schema}.saved; DROP TABLE ${v.schema}.saved;`);
    await ok(v, ['audit', 'verify']);
    const a = seqs[1]!;
    const b = seqs[2]!;
    cluster.psql(`UPDATE ${v.schema}.audit SET seq = -1 WHERE seq = ${a}; UPDATE ${v.schema}.audit SET seq = ${a} WHERE seq = ${b}; UPDATE ${v.schema}.audit SET seq = ${b} WHERE seq = -1;`);
    const r = await runInProcess(['audit', 'verify'], { env: v.env });
    assert.equal(r.status, 7, r.stderr);
    assert.match(r.stderr, new RegExp(`^vault: error: audit log verification failed at entry #${a}: reordered `));
  } finally {
    v.cleanup();
  }
});

test('the server restores an older dump of the vault: refused as a rollback (7) until accepted', async () => {
  const v = await pgVault();
  try {
    await ok(v, ['put', 'A'], 'one\n');
    const older = cluster.dump({ schema: v.schema, clean: true });
    await ok(v, ['rotate', 'A'], 'two\n');
    cluster.restore(older);
    await refused(v, ['get', 'A'], /^vault: error: the vault file was rolled back: it is at state \d+ \(audit entry #\d+\), but this user last saw state \d+ \(audit entry #\d+\)\nvault: hint: if you restored this file from a backup on purpose, accept it with: vault accept-restore\n$/);
    await ok(v, ['accept-restore']);
    assert.equal(await ok(v, ['get', 'A']), 'one');
  } finally {
    v.cleanup();
  }
});

test('a schema newer than this vault is refused with 7 and left untouched', async () => {
  const v = await pgVault();
  try {
    cluster.psql(`INSERT INTO ${v.schema}.schema_migrations VALUES (99, 0);`);
    const r = await runInProcess(['list'], { env: v.env });
    assert.equal(r.status, 7);
    assert.equal(r.stderr, `vault: error: the vault at ${v.path} has schema version 99, newer than this vault (${PG_SCHEMA_VERSION})\nvault: hint: upgrade vault to open this vault\n`);
    const versions = Array.from({ length: PG_SCHEMA_VERSION }, (_, i) => i + 1).join(',');
    assert.equal(cluster.psql(`SELECT string_agg(version::text, ',' ORDER BY version) FROM ${v.schema}.schema_migrations`).trim(), `${versions},99`);
  } finally {
    v.cleanup();
  }
});

test('server stopped: exit 1 "cannot reach the vault server"; mid-import: nothing half-written; restarted: transparent', async () => {
  const v = await pgVault();
  try {
    await ok(v, ['put', 'KEEP'], 'kept\n');
    cluster.stop();
    let r = await runVault(['get', 'KEEP'], { env: v.env });
    assert.equal(r.status, 1);
    assert.equal(r.out, '');
    assert.match(r.stderr, new RegExp(`^vault: error: cannot reach the vault server at ${v.path.replace(/[?.*+()\\[\]]/g, '\\$&')}: .+\n`));
    cluster.start();
    assert.equal(await ok(v, ['get', 'KEEP']), 'kept');

    // An import of many secrets, the server stopped while its transaction holds the vault's lock.
    const file = join(v.dir, 'many.env');
    writeFileSync(file, Array.from({ length: 3000 }, (_, i) => `K${i}=v${i}`).join('\n') + '\n');
    const child = runVault(['import', file], { env: v.env });
    let locked = false;
    for (let i = 0; i < 600 && !locked; i++) {
      locked = cluster.psql(`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted`).trim() !== '0';
      if (!locked) await sleep(50);
    }
    assert.ok(locked, 'the import took the vault lock');
    cluster.stop('immediate');
    r = await child;
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^vault: error: cannot reach the vault server at /);
    cluster.start();
    assert.equal(await ok(v, ['list']), 'KEEP\n', 'nothing of the import was written');
    await ok(v, ['audit', 'verify']);
  } finally {
    v.cleanup();
  }
});

test('8 processes on 2 clients write and read at once: nothing lost, no raw database error, one valid chain', async () => {
  const v = await pgVault();
  try {
    // Two "clients": two machines' worth of state (each its own rollback anchors), four processes each.
    const clients = [join(v.dir, 'client-a'), join(v.dir, 'client-b')];
    const PER = 5;
    const runs = Array.from({ length: 8 }, (_, i) =>
      runCommand(process.execPath, [join(ROOT, 'test', 'fixtures', 'pg-writer.mjs'), v.path, `W${i}`, String(PER), clients[i % 2]!], {
        env: { VAULT_MASTER_KEY: v.masterKey },
        timeoutMs: 600_000,
      }),
    );
    const results = await Promise.all(runs);
    for (const [i, r] of results.entries()) {
      assert.equal(r.stderr, '', `writer ${i}`);
      assert.deepEqual([r.status, r.out], [0, `done ${PER}\n`], `writer ${i}`);
    }
    const names = (await ok(v, ['list', '--ns', 'load'])).trim().split('\n');
    assert.equal(names.length, 8 * PER);
    const env = JSON.parse(await ok(v, ['env', '--ns', 'load', '--format', 'json'])) as Record<string, string>;
    for (let i = 0; i < 8; i++) for (let k = 0; k < PER; k++) assert.equal(env[`W${i}_${k}`], `W${i}-value-${k}`);
    const r = await runInProcess(['audit', 'verify', '--json'], { env: v.env });
    assert.equal(r.status, 0, r.stderr);
    // init + key-add, one put and one get per iteration, and the env just now
    assert.equal((JSON.parse(r.out) as { entries: number }).entries, 2 + 8 * PER * 2 + 1);
  } finally {
    v.cleanup();
  }
});

test('two rotate --master at once leave one consistent vault', async () => {
  const v = await pgVault();
  try {
    await ok(v, ['put', 'A'], 'alpha\n');
    const both = await Promise.all([runVault(['rotate', '--master'], { env: v.env }), runVault(['rotate', '--master'], { env: v.env })]);
    const STALE = 'vault: error: the vault key was rotated by another process after this one unlocked; nothing was done\nvault: hint: run the command again\n';
    for (const r of both) {
      if (r.status === 0) assert.match(r.stderr, /^rotated the data key: /);
      else assert.deepEqual([r.status, r.stderr], [1, STALE]);
    }
    assert.ok(both.some((r) => r.status === 0));
    assert.equal(await ok(v, ['get', 'A']), 'alpha');
    await ok(v, ['audit', 'verify']);
  } finally {
    v.cleanup();
  }
});

/**
 * Runs the launcher with test/fixtures/trace-workers.cjs: what it returns, and the worker
 * threads the main thread started (file, and whether before the CLI bundle loaded) and which
 * of vault's bundles it loaded.
 */
async function traced(v: V, args: string[], env: Record<string, string | undefined>): Promise<{ status: number | null; out: string; stderr: string; workers: string[]; loaded: string[] }> {
  const trace = join(v.dir, `workers-${randomBytes(4).toString('hex')}.txt`);
  const r = await runCommand(process.execPath, ['--require', join(ROOT, 'test', 'fixtures', 'trace-workers.cjs'), BIN, ...args], { env: { ...env, TRACE_WORKERS_FILE: trace } });
  const lines = existsSync(trace) ? readFileSync(trace, 'utf8').split('\n').filter(Boolean) : [];
  return {
    status: r.status,
    out: r.out,
    stderr: r.stderr,
    workers: lines.filter((l) => l.startsWith('worker ')).map((l) => l.slice('worker '.length).replace(`${ROOT}/`, '')),
    loaded: lines.filter((l) => l.startsWith('loaded ')).map((l) => l.slice('loaded '.length).replace(`${ROOT}/`, '')),
  };
}

test('early connection: a URL in --vault X, --vault=X or VAULT_PATH starts the one worker before the CLI bundle loads, and the store uses it', async () => {
  const v = await pgVault();
  try {
    await ok(v, ['put', 'EARLY'], 'early-value\n');
    const EARLY = ['dist/cli/pg-early.cjs', 'dist/cli/get.cjs'];
    const cases: Array<[string, string[], Record<string, string | undefined>]> = [
      ['VAULT_PATH', ['get', 'EARLY'], v.env],
      ['--vault X', ['--vault', v.path, 'get', 'EARLY'], { ...v.env, VAULT_PATH: undefined }],
      ['--vault=X after the command', ['get', 'EARLY', `--vault=${v.path}`], { ...v.env, VAULT_PATH: join(v.dir, 'not-this.db') }],
      ['the last --vault wins', ['get', '--vault', join(v.dir, 'not-this.db'), 'EARLY', '--vault', v.path], { ...v.env, VAULT_PATH: undefined }],
    ];
    for (const [what, args, env] of cases) {
      const r = await traced(v, args, env);
      assert.deepEqual([r.status, r.out, r.stderr], [0, 'early-value', ''], what);
      assert.deepEqual(r.workers, ['dist/cli/pg-worker.cjs by loadBundle before'], what);
      assert.deepEqual(r.loaded, EARLY, what);
    }
    // `--` ends vault's options: a --vault after it is the command's, not the vault.
    const r = await traced(v, ['exec', '--', process.execPath, '-e', 'process.stdout.write(process.env.EARLY)', '--', '--vault', join(v.dir, 'x.db')], v.env);
    assert.deepEqual([r.status, r.out, r.stderr], [0, 'early-value', ''], r.stderr);
    assert.deepEqual(r.workers, ['dist/cli/pg-worker.cjs by loadBundle before']);
  } finally {
    v.cleanup();
  }
});

test('early connection: an unreachable server gives the message and exit 1 a connection made by the store gives', async () => {
  const v = await pgVault();
  try {
    for (const url of [`postgres://vault@localhost/vault?host=${encodeURIComponent(join(v.dir, 'no-server'))}&vault=gone`, 'postgres://vault@127.0.0.1:1/vault?vault=gone']) {
      const display = url;
      const expected = `vault: error: cannot reach the vault server at ${display}: connect ${url.includes('127.0.0.1') ? 'ECONNREFUSED 127.0.0.1:1' : `ENOENT ${join(v.dir, 'no-server')}/.s.PGSQL.5432`}\n` +
        'vault: hint: check that the server is running and reachable; nothing was changed by this command unless it said so\n';
      const early = await traced(v, ['get', 'X'], { ...v.env, VAULT_PATH: url });
      assert.deepEqual([early.status, early.out, early.stderr], [1, '', expected], url);
      assert.deepEqual(early.workers, ['dist/cli/pg-worker.cjs by loadBundle before']);
      // The same command in this process (no launcher, so no early connection): the same answer.
      const late = await runInProcess(['get', 'X'], { env: { ...v.env, VAULT_PATH: url } });
      assert.deepEqual([late.status, late.out, late.stderr], [1, '', expected], url);
    }
    // A vault name the store refuses: the early start gives up quietly, the store says why (exit 2).
    const bad = await traced(v, ['get', 'X'], { ...v.env, VAULT_PATH: cluster.url('Bad-Name') });
    assert.equal(bad.status, 2, bad.stderr);
    assert.equal(bad.stderr.split('\n')[0], 'vault: error: the vault name "Bad-Name" in the URL is not valid');
    assert.deepEqual(bad.workers, []);
  } finally {
    v.cleanup();
  }
});

test('early connection: a file vault never loads pg-early.cjs nor starts a worker, even with a postgres:// VAULT_PATH overridden by --vault', async () => {
  const v = await pgVault();
  const file = await cheapVault();
  try {
    const put = await runInProcess(['put', 'F'], { env: file.env, input: 'file-value\n' });
    assert.equal(put.status, 0, put.stderr);
    for (const [args, env] of [
      [['get', 'F'], file.env],
      [['--vault', file.path, 'get', 'F'], { ...file.env, VAULT_PATH: v.path }],
      [['get', 'F', `--vault=${file.path}`], { ...file.env, VAULT_PATH: v.path }],
    ] as Array<[string[], Record<string, string>]>) {
      const r = await traced(v, args, env);
      assert.deepEqual([r.status, r.out, r.stderr], [0, 'file-value', ''], args.join(' '));
      assert.deepEqual(r.workers, [], args.join(' '));
      assert.deepEqual(r.loaded, ['dist/cli/get.cjs'], args.join(' '));
    }
  } finally {
    file.cleanup();
    v.cleanup();
  }
});
