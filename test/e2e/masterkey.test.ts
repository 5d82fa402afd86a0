import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { passphraseVault, runInProcess } from '../helpers/cli.js';
import { sql } from '../helpers/sqlite.js';

const KEY_RE = /^vault1-[A-Za-z0-9_-]{43}$/;
const WRONG = 'wrong passphrase or key';

interface Slot {
  id: string;
  kind: string;
  label: string | null;
  created: string;
  lastUsed: string | null;
  state: string;
}

async function slots(env: Record<string, string>): Promise<Slot[]> {
  const r = await runInProcess(['key', 'list', '--json'], { env });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.out) as Slot[];
}

/**
 * A vault with one secret and one master key; env without the passphrase. The secret is put
 * with the new key, so set-up pays the passphrase KDF once (key add), not twice.
 */
async function withKey(label = 'ci') {
  const v = await passphraseVault({ cheap: true });
  const add = await runInProcess(['key', 'add', '--label', label], { env: v.env });
  assert.equal(add.status, 0, add.stderr);
  const key = add.out.slice(0, -1);
  assert.match(key, KEY_RE);
  assert.equal(add.out, `${key}\n`);
  const id = (await slots(v.env)).find((s) => s.kind === 'master-key')!.id;
  assert.equal(add.stderr, `added master key ${id} ("${label}"); it is shown only this once: store it now, e.g. as the CI secret VAULT_MASTER_KEY\n`);
  const put = await runInProcess(['put', 'TOKEN'], { env: { VAULT_PATH: v.path, VAULT_MASTER_KEY: key }, input: 's3cret\n' });
  assert.equal(put.status, 0, put.stderr);
  return { ...v, key, id, ci: { VAULT_PATH: v.path } };
}

test('a master key unlocks from VAULT_MASTER_KEY and from VAULT_MASTER_KEY_FILE', async () => {
  const v = await withKey();
  try {
    // set by the put of withKey, which used the key
    const putAt = (await slots(v.env)).find((s) => s.id === v.id)!.lastUsed!;
    const byVar = await runInProcess(['get', 'TOKEN'], { env: { ...v.ci, VAULT_MASTER_KEY: v.key } });
    assert.equal(byVar.status, 0, byVar.stderr);
    assert.equal(byVar.out, 's3cret');
    assert.equal(byVar.stderr, '');
    const file = join(v.dir, 'master.key');
    writeFileSync(file, `${v.key}\n`, { mode: 0o600 });
    const byFile = await runInProcess(['get', 'TOKEN'], { env: { ...v.ci, VAULT_MASTER_KEY_FILE: file } });
    assert.equal(byFile.status, 0, byFile.stderr);
    assert.equal(byFile.out, 's3cret');
    assert.equal(byFile.stderr, '');
    // The slot that unlocked is stamped as used.
    const used = (await slots(v.env)).find((s) => s.id === v.id)!;
    assert.notEqual(used.lastUsed, null);
    assert.ok(used.lastUsed! > putAt, `last used ${used.lastUsed} is later than the put's ${putAt}`);
  } finally {
    v.cleanup();
  }
});

test('the master key comes first: a wrong one fails even when VAULT_PASSPHRASE is right', async () => {
  const v = await withKey();
  try {
    const other = 'vault1-' + Buffer.alloc(32, 7).toString('base64url');
    const r = await runInProcess(['get', 'TOKEN'], { env: { ...v.env, VAULT_MASTER_KEY: other } });
    assert.equal(r.status, 5);
    assert.equal(r.out, '');
    assert.equal(r.stderr, `vault: error: ${WRONG}\n`);
  } finally {
    v.cleanup();
  }
});

test('a wrong key and a revoked key give exit 5', async () => {
  const v = await withKey();
  try {
    const wrong = 'vault1-' + Buffer.alloc(32, 1).toString('base64url');
    const w = await runInProcess(['get', 'TOKEN'], { env: { ...v.ci, VAULT_MASTER_KEY: wrong } });
    assert.equal(w.status, 5);
    assert.equal(w.stderr, `vault: error: ${WRONG}\n`);

    // Revoked with the very key being revoked.
    const rm = await runInProcess(['key', 'rm', v.id, '--yes'], { env: { ...v.ci, VAULT_MASTER_KEY: v.key } });
    assert.equal(rm.status, 0, rm.stderr);
    assert.equal(rm.stderr, `revoked master-key slot ${v.id} ("ci")\n`);
    assert.equal(rm.out, '');
    const revoked = await runInProcess(['get', 'TOKEN'], { env: { ...v.ci, VAULT_MASTER_KEY: v.key } });
    assert.equal(revoked.status, 5);
    assert.equal(revoked.out, '');
    assert.equal(revoked.stderr, `vault: error: ${WRONG}\n`);
    assert.deepEqual((await slots(v.env)).map((s) => s.kind), ['passphrase']);
  } finally {
    v.cleanup();
  }
});

test('a revoked key stays revoked while another master key still works', async () => {
  const v = await withKey('first');
  try {
    const add = await runInProcess(['key', 'add', '--label', 'second'], { env: v.env });
    assert.equal(add.status, 0, add.stderr);
    const second = add.out.trim();
    const rm = await runInProcess(['key', 'rm', v.id, '--yes'], { env: v.env });
    assert.equal(rm.status, 0, rm.stderr);
    const a = await runInProcess(['get', 'TOKEN'], { env: { ...v.ci, VAULT_MASTER_KEY: v.key } });
    assert.equal(a.status, 5);
    const b = await runInProcess(['get', 'TOKEN'], { env: { ...v.ci, VAULT_MASTER_KEY: second } });
    assert.equal(b.status, 0, b.stderr);
    assert.equal(b.out, 's3cret');
  } finally {
    v.cleanup();
  }
});

test('a malformed key is a usage error (2) and is never echoed', async () => {
  const v = await withKey();
  try {
    const hint = 'vault: hint: a master key looks like vault1-<43 base64url characters>, as printed by vault key add\n';
    for (const bad of ['vault1-abc', v.key.slice(0, -1), v.key + 'A', 'vault2-' + v.key.slice(7), `${v.key.slice(0, -1)}=`, '']) {
      const r = await runInProcess(['get', 'TOKEN'], { env: { ...v.ci, VAULT_MASTER_KEY: bad } });
      assert.equal(r.status, 2, `${bad}: ${r.stderr}`);
      assert.equal(r.out, '');
      assert.equal(r.stderr, `vault: error: VAULT_MASTER_KEY is not a vault master key\n${hint}`);
    }
    const file = join(v.dir, 'bad.key');
    writeFileSync(file, 'not a key\n', { mode: 0o600 });
    const f = await runInProcess(['get', 'TOKEN'], { env: { ...v.ci, VAULT_MASTER_KEY_FILE: file } });
    assert.equal(f.status, 2);
    assert.equal(f.stderr, `vault: error: VAULT_MASTER_KEY_FILE is not a vault master key\n${hint}`);
    const missing = join(v.dir, 'missing.key');
    const m = await runInProcess(['get', 'TOKEN'], { env: { ...v.ci, VAULT_MASTER_KEY_FILE: missing } });
    assert.equal(m.status, 2);
    assert.equal(m.stderr, `vault: error: cannot read VAULT_MASTER_KEY_FILE ${missing}: no such file\n`);
  } finally {
    v.cleanup();
  }
});

test('key list shows every slot, with no key material, in a pipe and as JSON', async () => {
  const v = await withKey('github-actions');
  try {
    const list = await slots(v.env);
    assert.deepEqual(list.map((s) => [s.kind, s.label]), [['passphrase', null], ['master-key', 'github-actions']]);
    for (const s of list) {
      assert.deepEqual(Object.keys(s), ['id', 'kind', 'label', 'created', 'lastUsed', 'state']);
      assert.equal(s.state, 'sealed');
      assert.match(s.id, /^[0-9a-f]{8}$/);
      assert.match(s.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    }
    // Locked: no passphrase needed to list.
    const plain = await runInProcess(['key', 'list'], { env: v.ci });
    assert.equal(plain.status, 0, plain.stderr);
    assert.equal(plain.stderr, '');
    assert.equal(plain.out, list.map((s) => `${s.id}\t${s.kind}\t${s.label ?? ''}\t${s.created}\t${s.lastUsed ?? '-'}\t${s.state}\n`).join(''));
    assert.ok(!plain.out.includes(v.key.slice(7)));
  } finally {
    v.cleanup();
  }
});

test('key add --json returns the key once; it is stored nowhere in the file or the audit log', async () => {
  const v = await passphraseVault({ cheap: true });
  try {
    const r = await runInProcess(['key', 'add', '--label', 'deploy', '--json'], { env: v.env });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    const body = JSON.parse(r.out) as { id: string; kind: string; label: string; created: string; key: string };
    assert.deepEqual(Object.keys(body), ['id', 'kind', 'label', 'created', 'key']);
    assert.equal(body.kind, 'master-key');
    assert.equal(body.label, 'deploy');
    assert.match(body.key, KEY_RE);
    const raw = Buffer.from(body.key.slice(7), 'base64url');
    const file = readFileSync(v.path);
    const wal = (() => {
      try {
        return readFileSync(`${v.path}-wal`);
      } catch {
        return Buffer.alloc(0);
      }
    })();
    for (const bytes of [file, wal]) {
      assert.equal(bytes.indexOf(raw), -1);
      assert.equal(bytes.indexOf(Buffer.from(body.key)), -1);
    }
    const audit = sql(v.path, `SELECT op, outcome, detail FROM audit WHERE op = 'key-add'`);
    assert.deepEqual(audit, [{ op: 'key-add', outcome: 'ok', detail: JSON.stringify({ slot: body.id, kind: 'master-key', label: 'deploy' }) }]);
  } finally {
    v.cleanup();
  }
});

test('adding and removing slots needs an unlocked vault', async () => {
  const v = await withKey();
  try {
    for (const args of [['key', 'add', '--label', 'x'], ['key', 'rm', v.id, '--yes']]) {
      const r = await runInProcess(args, { env: v.ci });
      assert.equal(r.status, 4, r.stderr);
      assert.equal(r.stderr.split('\n')[0], 'vault: error: the vault is locked and no way to unlock it was given');
    }
    assert.equal((await slots(v.env)).length, 2);
  } finally {
    v.cleanup();
  }
});

test('key add refuses a duplicate or malformed label; key rm an unknown id', async () => {
  const v = await withKey('ci');
  try {
    const dup = await runInProcess(['key', 'add', '--label', 'ci'], { env: v.env });
    assert.equal(dup.status, 8);
    assert.equal(dup.out, '');
    assert.equal(dup.stderr, 'vault: error: a master key labelled "ci" already exists\nvault: hint: choose another label, or revoke the old key first with vault key rm ID\n');
    const bad = await runInProcess(['key', 'add', '--label', 'a\tb'], { env: v.env });
    assert.equal(bad.status, 2);
    assert.equal(bad.stderr.split('\n')[0], 'vault: error: invalid label "a\\tb"');
    const none = await runInProcess(['key', 'add'], { env: v.env });
    assert.equal(none.status, 2);
    assert.equal(none.stderr.split('\n')[0], "vault: error: required option '--label <label>' not specified");
    const unknown = await runInProcess(['key', 'rm', 'deadbeef'], { env: v.env });
    assert.equal(unknown.status, 3);
    assert.equal(unknown.stderr, 'vault: error: no key slot deadbeef\nvault: hint: vault key list shows the slot ids\n');
    assert.equal((await slots(v.env)).length, 2);
  } finally {
    v.cleanup();
  }
});

test('key rm refuses to remove the last slot that can unlock the vault, and changes nothing', async () => {
  const v = await withKey();
  try {
    const passphraseSlot = (await slots(v.env)).find((s) => s.kind === 'passphrase')!.id;
    // With a master key left, the passphrase slot may go (a CI-only vault)...
    const rm1 = await runInProcess(['key', 'rm', passphraseSlot, '--yes'], { env: v.env });
    assert.equal(rm1.status, 0, rm1.stderr);
    assert.equal(rm1.stderr, `revoked passphrase slot ${passphraseSlot}\n`);
    const before = sql(v.path, 'SELECT id, kind, hex(public_key) pk, hex(wrapped_key) w FROM slots');
    // ...but not the last one.
    const rm2 = await runInProcess(['key', 'rm', v.id, '--yes'], { env: { ...v.ci, VAULT_MASTER_KEY: v.key } });
    assert.equal(rm2.status, 2);
    assert.equal(rm2.out, '');
    assert.equal(
      rm2.stderr,
      `vault: error: refusing to remove key slot ${v.id}: it is the last passphrase or master-key slot, and without it the vault could never be unlocked again\n` +
        'vault: hint: add another way in first: vault key add --label L, or vault passwd if no passphrase is set\n',
    );
    assert.deepEqual(sql(v.path, 'SELECT id, kind, hex(public_key) pk, hex(wrapped_key) w FROM slots'), before);
    const get = await runInProcess(['get', 'TOKEN'], { env: { ...v.ci, VAULT_MASTER_KEY: v.key } });
    assert.equal(get.out, 's3cret');
    const audit = sql(v.path, `SELECT op, outcome FROM audit WHERE op = 'key-rm' ORDER BY seq`);
    assert.deepEqual(audit, [{ op: 'key-rm', outcome: 'ok' }, { op: 'key-rm', outcome: 'denied' }]);
  } finally {
    v.cleanup();
  }
});
