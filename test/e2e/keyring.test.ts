import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { entryMac, GENESIS_MAC, type AuditRow } from '../../src/audit/log.js';
import { PASSPHRASE, ROOT, runInProcess, runVault, tempDir } from '../helpers/cli.js';
import { blob, exec, query } from '../helpers/sqlite.js';
import { cheapVault, openWithKey } from '../helpers/vaults.js';

/**
 * The keyring's promises (docs/security.md): a vault made by release 0.1 is upgraded in
 * place; rotate --master revokes removed keys (an old key plus an old copy of the file never
 * reaches the new data key) while every remaining slot keeps working without its secret at
 * hand; the audit key changes with the data key; only genuine failed unlocks are sealed.
 */

const FIXTURE_SQL = join(ROOT, 'test', 'fixtures', 'vault-0.1.sql');

/** Builds the 0.1 vault file from its dump (kept as text: no binary vault file in git), mode 0600. */
function buildFixture(path: string): void {
  const py = 'import sqlite3, sys\ncon = sqlite3.connect(sys.argv[1])\ncon.executescript(open(sys.argv[2]).read())\ncon.close()\n';
  const r = spawnSync('python3', ['-c', py, path, FIXTURE_SQL], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building the fixture failed: ${r.stderr}`);
  chmodSync(path, 0o600);
}
/** The fixture's secrets (made by 0.1's CLI; see the commit that added it). */
const FIXTURE_PASSPHRASE = 'correct horse battery staple';
const FIXTURE_MASTER_KEY = 'vault1--HBLp7TYQCkCA5ph5WoInKY18-FnoCzazJVcKvIDx7c';

function auditOps(path: string): Array<{ op: string; outcome: string; detail: unknown }> {
  return query(path, 'SELECT op, outcome, detail FROM audit ORDER BY seq').map((r) => ({
    op: String(r.op),
    outcome: String(r.outcome),
    detail: r.detail === null ? null : (JSON.parse(String(r.detail)) as unknown),
  }));
}

test('a vault made by release 0.1 opens, is upgraded in place at the first unlock (one audited transaction), and keeps every secret', async () => {
  const { dir, cleanup } = tempDir();
  try {
    mkdirSync(join(dir, 'v'), { mode: 0o700 });
    const path = join(dir, 'v', 'vault.db');
    const original = join(dir, 'v', 'original.db');
    buildFixture(original);
    copyFileSync(original, path);
    const state = join(dir, 'state');
    const base = { VAULT_PATH: path, XDG_STATE_HOME: state };
    const ci = { ...base, VAULT_MASTER_KEY: FIXTURE_MASTER_KEY };
    const pass = { ...base, VAULT_PASSPHRASE: FIXTURE_PASSPHRASE };

    const before = await runInProcess(['status', '--json'], { env: base });
    assert.equal(before.status, 0, before.stderr);
    assert.equal((JSON.parse(before.out) as { formatVersion: number }).formatVersion, 1, 'locked: schema migrated, format not yet');

    const get = await runInProcess(['get', 'GITHUB_TOKEN'], { env: ci });
    assert.equal(get.stderr, '');
    assert.equal(get.status, 0);
    assert.equal(get.out, 'ghp_v2');
    const ops = auditOps(path);
    assert.deepEqual(ops.slice(-2), [
      { op: 'upgrade', outcome: 'ok', detail: { from: 1, to: 2, secrets: 4, versions: 5 } },
      { op: 'get', outcome: 'ok', detail: null },
    ]);
    const after = JSON.parse((await runInProcess(['status', '--json'], { env: base })).out) as { formatVersion: number; slots: Array<{ kind: string; state: string }> };
    assert.equal(after.formatVersion, 2);

    // Every secret and version, through the other slot too (its 0.1 wrap is read once, then re-sealed).
    for (const [args, value] of [
      [['get', 'GITHUB_TOKEN', '--version', '1'], 'ghp_v1'],
      [['get', 'STRIPE_KEY'], 'sk_live'],
      [['get', 'ci/DEPLOY'], 'cival'],
    ] as const) {
      const r = await runInProcess([...args], { env: pass });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.out, value);
    }
    assert.deepEqual(auditOps(path).filter((e) => e.op === 'key-update').map((e) => (e.detail as { from: string }).from), ['legacy']);
    assert.deepEqual(query(path, 'SELECT kind, wrap_format, pending FROM slots ORDER BY kind'), [
      { kind: 'master-key', wrap_format: 2, pending: null },
      { kind: 'passphrase', wrap_format: 2, pending: null },
    ]);
    const removed = await runInProcess(['get', 'OLD_ONE'], { env: ci });
    assert.equal(removed.status, 3, 'a removed secret stays removed');
    const h = await runInProcess(['history', 'GITHUB_TOKEN'], { env: base });
    assert.equal(h.out.trim().split('\n').length, 2);
    const verify = await runInProcess(['audit', 'verify'], { env: ci });
    assert.equal(verify.status, 0, verify.stderr);
    assert.equal(readFileSync(original).equals(readFileSync(path)), false);

    // The old file put back where this user has seen the upgraded one: a downgrade, refused.
    copyFileSync(original, path);
    const down = await runInProcess(['get', 'GITHUB_TOKEN'], { env: ci });
    assert.equal(down.out, '');
    assert.equal(down.status, 7);
    assert.equal(
      down.stderr.split('\n')[0],
      'vault: error: the vault file is in the format of release 0.1, but this user has already used it upgraded: it was replaced by an older or forged copy',
    );
  } finally {
    cleanup();
  }
});

test('rotate --master revokes a removed key: the old key with an old copy never reaches the new data key; remaining slots keep working', async () => {
  const v = await cheapVault();
  try {
    const put = await runInProcess(['put', 'API_KEY'], { env: v.env, input: 'before-rotation' });
    assert.equal(put.status, 0, put.stderr);
    const add = await runInProcess(['key', 'add', '--label', 'leaver', '--json'], { env: v.env });
    const { id: leaverId, key: leaverKey } = JSON.parse(add.out) as { id: string; key: string };
    const oldCopy = `${v.path}.old`;
    copyFileSync(v.path, oldCopy);
    const oldSlot = query(v.path, 'SELECT * FROM slots WHERE id = ?', [leaverId])[0]!;

    assert.equal((await runInProcess(['key', 'rm', leaverId, '--yes'], { env: v.env })).status, 0);
    const rot = await runInProcess(['rotate', '--master'], { env: v.env });
    assert.equal(rot.status, 0, rot.stderr);
    assert.equal(rot.stderr, 'rotated the data key: re-encrypted 1 version, re-wrapped 2 key slots (1 takes the new key at its next unlock)\n');
    const put2 = await runInProcess(['put', 'API_KEY', '--force'], { env: v.env, input: 'after-rotation' });
    assert.equal(put2.status, 0, put2.stderr);

    const leaver = { VAULT_PATH: v.path, XDG_STATE_HOME: v.state, VAULT_MASTER_KEY: leaverKey };
    const gone = await runInProcess(['get', 'API_KEY'], { env: leaver });
    assert.equal(gone.status, 5);
    assert.equal(gone.stderr, 'vault: error: wrong passphrase or key\n');
    // The leaver still opens the old copy (what they had, they keep)...
    const old = await runInProcess(['get', 'API_KEY'], { env: { ...leaver, VAULT_PATH: oldCopy, XDG_STATE_HOME: `${v.state}-leaver` } });
    assert.equal(old.out, 'before-rotation', old.stderr);
    // ...and, able to write the file too, puts their old slot back: it holds only the old key.
    exec(
      v.path,
      `INSERT INTO slots (id, kind, label, kdf, kdf_params, salt, nonce, wrapped_key, created_at, public_key, key_mac, wrap_format)
       VALUES (?, 'master-key', 'leaver', 'hkdf-sha256', '', ?, ?, ?, ?, ?, ?, 2)`,
      [leaverId, blob(oldSlot.salt), blob(oldSlot.nonce), blob(oldSlot.wrapped_key), Number(oldSlot.created_at), blob(oldSlot.public_key), blob(oldSlot.key_mac)],
    );
    const back = await runInProcess(['get', 'API_KEY'], { env: leaver });
    assert.equal(back.out, '');
    assert.equal(back.status, 7);
    assert.equal(back.stderr.split('\n')[0], "vault: error: the data key this slot holds is not the vault's: the vault's own keys do not open under it");
    exec(v.path, 'DELETE FROM slots WHERE id = ?', [leaverId]);

    // The passphrase slot was not at hand: it follows its pending link and is re-sealed.
    const pass = { VAULT_PATH: v.path, XDG_STATE_HOME: v.state, VAULT_PASSPHRASE: PASSPHRASE };
    // (at today's KDF defaults, as the binary: the cheap slot is also upgraded)
    const viaPass = await runInProcess(['get', 'API_KEY'], { env: pass, realKdf: true });
    assert.equal(viaPass.out, 'after-rotation', viaPass.stderr);
    const updates = auditOps(v.path).filter((e) => e.op === 'key-update' || e.op === 'kdf-upgrade');
    assert.deepEqual(updates.map((e) => [e.op, (e.detail as { from: string }).from.split(' ')[0]]), [['key-update', 'pending'], ['kdf-upgrade', 'scrypt']]);
    assert.deepEqual(query(v.path, `SELECT pending FROM slots WHERE kind = 'passphrase'`), [{ pending: null }]);
  } finally {
    v.cleanup();
  }
});

test('finding 4: rotate --master starts a new audit key, so a holder of the old one cannot re-chain the log', async () => {
  const v = await cheapVault();
  try {
    for (const value of ['one', 'two']) assert.equal((await runInProcess(['put', 'API_KEY', '--force'], { env: v.env, input: value })).status, 0);
    const vault = await openWithKey(v);
    const oldAuditKey = Buffer.from((vault as unknown as { auditKeys: Array<{ key: Buffer }> }).auditKeys[0]!.key);
    const id = vault.id;
    vault.close();
    assert.equal((await runInProcess(['rotate', '--master'], { env: v.env })).status, 0);
    assert.equal((await runInProcess(['get', 'API_KEY'], { env: v.env })).status, 0);
    const verified = await runInProcess(['audit', 'verify'], { env: v.env });
    assert.equal(verified.status, 0, verified.stderr);
    assert.equal(query(v.path, `SELECT op FROM audit ORDER BY seq`).map((r) => r.op).join(' '), 'init key-add put put rotate-master get');

    // The old key's holder rewrites entry #3 and re-MACs the old chain up to the rekey entry.
    exec(v.path, `UPDATE audit SET name = 'OTHER' WHERE seq = 3`);
    const rows = query(v.path, 'SELECT * FROM audit ORDER BY seq') as unknown as AuditRow[];
    let prev: Buffer = GENESIS_MAC;
    for (const row of rows.slice(0, 5)) {
      const m = entryMac(oldAuditKey, id, row, prev);
      exec(v.path, 'UPDATE audit SET mac = ? WHERE seq = ?', [m, row.seq]);
      prev = m;
    }
    const r = await runInProcess(['audit', 'verify'], { env: v.env });
    assert.equal(r.status, 7);
    assert.match(r.stderr, /^vault: error: audit log verification failed at entry #6: /);
  } finally {
    v.cleanup();
  }
});

test('finding 4: only a failed unlock of the exact shape, in time order, is sealed into the chain', async () => {
  for (const edit of ['detail', 'time', 'none'] as const) {
    const v = await cheapVault();
    try {
      const wrong = await runInProcess(['put', 'API_KEY'], { env: { ...v.env, VAULT_MASTER_KEY: `vault1-${'A'.repeat(43)}` }, input: 'x' });
      assert.equal(wrong.status, 5);
      const [pending] = query(v.path, 'SELECT seq, detail FROM audit WHERE mac IS NULL');
      assert.equal(pending!.detail, '{"method":"master-key"}');
      if (edit === 'detail') exec(v.path, `UPDATE audit SET detail = '{"method":"master-key","by":"admin"}' WHERE seq = ?`, [Number(pending!.seq)]);
      if (edit === 'time') exec(v.path, 'UPDATE audit SET at = 1 WHERE seq = ?', [Number(pending!.seq)]);
      assert.equal((await runInProcess(['put', 'API_KEY'], { env: v.env, input: 'x' })).status, 0);
      const sealed = query(v.path, 'SELECT mac IS NOT NULL AS sealed FROM audit WHERE seq = ?', [Number(pending!.seq)])[0]!.sealed;
      const r = await runInProcess(['audit', 'verify'], { env: v.env });
      if (edit === 'none') {
        assert.equal(sealed, 1);
        assert.equal(r.status, 0, r.stderr);
      } else {
        assert.equal(sealed, 0, `${edit}: left unsealed`);
        assert.equal(r.status, 7);
        assert.equal(r.stderr.split('\n')[0], `vault: error: audit log verification failed at entry #${Number(pending!.seq)}: inserted (it has no mac and the chain continues over it from #${Number(pending!.seq) - 1})`);
      }
    } finally {
      v.cleanup();
    }
  }
});

test('processes racing on one vault never see their own anchor as a rollback', async () => {
  const v = await cheapVault();
  try {
    assert.equal((await runInProcess(['put', 'A'], { env: v.env, input: 'a' })).status, 0);
    // real processes: the race is between processes, each with its own view of the anchor
    const worker = async (k: number): Promise<string[]> => {
      const problems: string[] = [];
      for (let i = 0; i < 4; i++) {
        const r = i % 2 === 0 ? await runVault(['put', `W${k}`, '--force'], { env: v.env, input: `v${i}` }) : await runVault(['get', 'A'], { env: v.env });
        if (r.status !== 0) problems.push(`worker ${k} step ${i}: ${r.status} ${r.stderr}`);
      }
      return problems;
    };
    const problems = (await Promise.all([0, 1, 2, 3, 4, 5].map(worker))).flat();
    assert.deepEqual(problems, []);
    const verify = await runInProcess(['audit', 'verify'], { env: v.env });
    assert.equal(verify.status, 0, verify.stderr);
    assert.equal(verify.stderr, `audit log verified: ${2 + 1 + 6 * 4} entries\n`);
  } finally {
    v.cleanup();
  }
});
