import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { execDetail } from '../../src/audit/detail.js';
import { AFTER, LAST_ROW, LAST_SEALED, PENDING_COUNT } from '../../src/store/audit.js';
import { Vault } from '../../src/core/vault.js';
import { tempDir } from '../helpers/cli.js';

const CHEAP = { name: 'scrypt', params: { N: 2 ** 14, r: 8, p: 1 } } as const;
const ACTOR = { user: 'tester', pid: 4242, parent: 'bash' };

async function newVault(): Promise<{ vault: Vault; path: string; cleanup: () => void }> {
  const { dir, cleanup } = tempDir();
  const path = join(dir, 'vault.db');
  const vault = await Vault.create(path, { passphrase: Buffer.from('pass phrase'), kdf: CHEAP, actor: ACTOR, now: () => 1_700_000_000_000 });
  return { vault, path, cleanup: () => (vault.close(), cleanup()) };
}

test('appending never scans the log: every lookup is a b-tree search (EXPLAIN QUERY PLAN)', async () => {
  const { vault, cleanup } = await newVault();
  try {
    const db = vault.database;
    const plan = (sql: string, ...params: unknown[]): string[] =>
      (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Array<{ detail: string }>).map((r) => r.detail);
    // Exact plan wording varies between SQLite releases; what matters is no SCAN of the table.
    const noScan = (lines: string[]): void => {
      for (const l of lines) assert.match(l, /^(SEARCH audit USING (INTEGER PRIMARY KEY|INDEX audit_sealed)\b|SEARCH audit$|SCALAR SUBQUERY)/, l);
    };
    noScan(plan(LAST_ROW));
    noScan(plan(LAST_SEALED));
    noScan(plan(AFTER, 1));
    assert.ok(plan(LAST_SEALED).some((l) => l.includes('audit_sealed')));
    // The count walks only the partial index of unsealed rows, which holds failed unlocks only.
    assert.deepEqual(plan(PENDING_COUNT).map((l) => l.replace('COVERING ', '')), ['SCAN audit USING INDEX audit_pending']);
  } finally {
    cleanup();
  }
});

test('rollback records the new version and where it came from; values never enter the row', async () => {
  const { vault, cleanup } = await newVault();
  try {
    const ref = { ns: 'default', name: 'DB_URL' };
    vault.put(ref, Buffer.from('postgres://one'));
    vault.put(ref, Buffer.from('postgres://two'), { force: true });
    assert.deepEqual(vault.rollback(ref, 1), { version: 3 });
    const rows = vault.auditLog();
    assert.deepEqual(
      rows.map((r) => [r.seq, r.op, r.ns, r.name, r.version, r.outcome, r.detail, r.actor, r.at, r.sealed]),
      [
        [1, 'init', null, null, null, 'ok', { kdf: 'scrypt' }, ACTOR, 1_700_000_000_000, true],
        [2, 'put', 'default', 'DB_URL', 1, 'ok', null, ACTOR, 1_700_000_000_000, true],
        [3, 'put', 'default', 'DB_URL', 2, 'ok', null, ACTOR, 1_700_000_000_000, true],
        [4, 'rollback', 'default', 'DB_URL', 3, 'ok', { from: 1 }, ACTOR, 1_700_000_000_000, true],
      ],
    );
    assert.equal(JSON.stringify(rows).includes('postgres'), false);
    assert.equal(vault.verifyAudit().failure, null);
  } finally {
    cleanup();
  }
});

test('failed unlocks are written unsealed and sealed in seq order by the next entry', async () => {
  const { vault, path, cleanup } = await newVault();
  vault.close();
  const locked = Vault.open(path, { actor: ACTOR, now: () => 1_700_000_000_500 });
  try {
    await assert.rejects(locked.unlockWithPassphrase(Buffer.from('wrong one')), { code: 'auth-failed' });
    await assert.rejects(locked.unlockWithPassphrase(Buffer.from('wrong two')), { code: 'auth-failed' });
    assert.deepEqual(
      locked.auditLog({ ops: ['unlock'] }).map((r) => [r.seq, r.outcome, r.detail, r.sealed]),
      [
        [2, 'denied', { method: 'passphrase' }, false],
        [3, 'denied', { method: 'passphrase' }, false],
      ],
    );
    assert.equal(locked.status().auditPending, 2);
    await locked.unlockWithPassphrase(Buffer.from('pass phrase'));
    // This slot's KDF is below today's defaults, so the unlock upgrades it: that entry seals them.
    const after = locked.auditLog();
    assert.deepEqual(after.map((r) => [r.seq, r.op, r.sealed]), [
      [1, 'init', true],
      [2, 'unlock', true],
      [3, 'unlock', true],
      [4, 'kdf-upgrade', true],
    ]);
    const v = locked.verifyAudit();
    assert.deepEqual(v, { entries: 4, pending: 0, head: v.head, failure: null });
    assert.equal(v.head?.seq, 4);
  } finally {
    locked.close();
    cleanup();
  }
});

test('a row without a mac that is not a failed unlock is never sealed: verify calls it inserted', async () => {
  const { vault, cleanup } = await newVault();
  try {
    vault.database
      .prepare(`INSERT INTO audit (seq, at, op, ns, name, version, outcome, actor_user, actor_pid, actor_parent, detail, mac)
                VALUES (2, 1, 'get', 'default', 'X', 1, 'ok', 'mallory', 1, 'sh', NULL, NULL)`)
      .run();
    vault.put({ ns: 'default', name: 'Y' }, Buffer.from('y'));
    assert.deepEqual(vault.auditLog().map((r) => [r.seq, r.op, r.sealed]), [
      [1, 'init', true],
      [2, 'get', false],
      [3, 'put', true],
    ]);
    assert.deepEqual(vault.verifyAudit().failure, { seq: 2, kind: 'inserted', reason: 'it has no mac and the chain continues over it from #1' });
  } finally {
    cleanup();
  }
});

test('a 10,000-entry log appends, seals and verifies', async () => {
  const { vault, cleanup } = await newVault();
  try {
    vault.transact(() => {
      for (let k = 0; k < 10_000; k++) vault.record({ op: 'get', ns: 'default', name: `N${k % 50}`, version: 1, outcome: 'ok' });
    });
    vault.recordFailedUnlock('master-key');
    vault.put({ ns: 'default', name: 'LAST' }, Buffer.from('v'));
    const v = vault.verifyAudit();
    assert.equal(v.failure, null);
    assert.equal(v.entries, 10_003);
    assert.deepEqual(vault.auditLog({ limit: 2 }).map((r) => [r.seq, r.op, r.detail]), [
      [10_002, 'unlock', { method: 'master-key' }],
      [10_003, 'put', null],
    ]);
  } finally {
    cleanup();
  }
});

test('exec detail: the command basename and the argument count, never the arguments', () => {
  assert.deepEqual(execDetail(['/usr/local/bin/psql', '-h', 'db', 'postgres://u:pw@h/db']), { command: 'psql', argc: 3 });
  assert.deepEqual(execDetail(['/bin/sh', '-c', 'echo $TOKEN', 'sh']), { command: 'sh', argc: 3 });
  assert.deepEqual(execDetail([]), { command: '', argc: 0 });
});
