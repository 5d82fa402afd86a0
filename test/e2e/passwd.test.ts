import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { passphraseVault, PASSPHRASE, runInProcess } from '../helpers/cli.js';
import { sql } from '../helpers/sqlite.js';

const NEW = 'a new and longer passphrase';

test('passwd re-wraps the data key: the old passphrase then fails with 5, the new one works', async () => {
  const v = await passphraseVault();
  try {
    assert.equal((await runInProcess(['put', 'A'], { env: v.env, input: 'alpha\n', realKdf: true })).status, 0);
    const before = sql(v.path, 'SELECT id, kdf, kdf_params, hex(salt) s, hex(public_key) pk, created_at FROM slots');
    const versions = sql(v.path, 'SELECT hex(nonce) n, hex(ciphertext) c FROM versions');
    // today's defaults, as the binary writes them (the other tests use TEST_KDF)
    const r = await runInProcess(['passwd'], { env: { ...v.env, VAULT_NEW_PASSPHRASE: NEW }, realKdf: true });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.out, '');
    assert.equal(r.stderr, `changed the passphrase of ${v.path}\n`);

    const old = await runInProcess(['get', 'A'], { env: v.env, realKdf: true });
    assert.equal(old.status, 5);
    assert.equal(old.out, '');
    assert.equal(old.stderr, 'vault: error: wrong passphrase or key\n');
    const fresh = await runInProcess(['get', 'A'], { env: { ...v.env, VAULT_PASSPHRASE: NEW }, realKdf: true });
    assert.equal(fresh.status, 0, fresh.stderr);
    assert.equal(fresh.out, 'alpha');

    // Same slot, same KDF family and defaults; new salt and key pair; values untouched.
    const after = sql(v.path, 'SELECT id, kdf, kdf_params, hex(salt) s, hex(public_key) pk, created_at FROM slots');
    assert.equal(after.length, 1);
    assert.equal(after[0]!.id, before[0]!.id);
    assert.equal(after[0]!.kdf, 'scrypt');
    assert.equal(after[0]!.kdf_params, 'N=131072,r=8,p=1');
    assert.equal(after[0]!.created_at, before[0]!.created_at);
    assert.notEqual(after[0]!.s, before[0]!.s);
    assert.notEqual(after[0]!.pk, before[0]!.pk);
    assert.deepEqual(sql(v.path, 'SELECT hex(nonce) n, hex(ciphertext) c FROM versions'), versions);
    assert.deepEqual(sql(v.path, `SELECT op, outcome FROM audit WHERE op = 'passwd'`), [{ op: 'passwd', outcome: 'ok' }]);
  } finally {
    v.cleanup();
  }
});

test('passwd reads VAULT_NEW_PASSPHRASE_FILE and unlocks by the usual order (a master key)', async () => {
  const v = await passphraseVault({ cheap: true });
  try {
    const add = await runInProcess(['key', 'add', '--label', 'ci', '--json'], { env: v.env });
    const key = (JSON.parse(add.out) as { key: string }).key;
    const file = join(v.dir, 'new-pass');
    writeFileSync(file, `${NEW}\n`, { mode: 0o600 });
    const r = await runInProcess(['passwd', '--json'], { env: { VAULT_PATH: v.path, VAULT_MASTER_KEY: key, VAULT_NEW_PASSPHRASE_FILE: file } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    const body = JSON.parse(r.out) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body), ['slot', 'kdf', 'kdfParams', 'added']);
    assert.equal(body.kdf, 'scrypt');
    assert.equal(body.added, false);
    // The trailing newline of the file is not part of the passphrase.
    const ok = await runInProcess(['list'], { env: { VAULT_PATH: v.path, VAULT_PASSPHRASE: NEW } });
    assert.equal(ok.status, 0);
    const status = await runInProcess(['put', 'B'], { env: { VAULT_PATH: v.path, VAULT_PASSPHRASE: NEW }, input: 'x' });
    assert.equal(status.status, 0, status.stderr);
    const old = await runInProcess(['put', 'C'], { env: { VAULT_PATH: v.path, VAULT_PASSPHRASE: PASSPHRASE }, input: 'x' });
    assert.equal(old.status, 5);
  } finally {
    v.cleanup();
  }
});

test('passwd with no new passphrase and no terminal fails at once with 2; a wrong old one with 5', async () => {
  const v = await passphraseVault({ cheap: true });
  try {
    const before = sql(v.path, 'SELECT hex(salt) s, hex(wrapped_key) w FROM slots');
    const r = await runInProcess(['passwd'], { env: v.env });
    assert.equal(r.status, 2);
    assert.equal(r.out, '');
    assert.equal(r.stderr, 'vault: error: no new passphrase\nvault: hint: set VAULT_NEW_PASSPHRASE or VAULT_NEW_PASSPHRASE_FILE, or run vault passwd in a terminal\n');
    const empty = await runInProcess(['passwd'], { env: { ...v.env, VAULT_NEW_PASSPHRASE: '' } });
    assert.equal(empty.status, 2);
    assert.equal(empty.stderr, 'vault: error: the new passphrase is empty\n');
    const wrong = await runInProcess(['passwd'], { env: { ...v.env, VAULT_PASSPHRASE: 'not it', VAULT_NEW_PASSPHRASE: NEW } });
    assert.equal(wrong.status, 5);
    assert.equal(wrong.stderr, 'vault: error: wrong passphrase or key\n');
    assert.deepEqual(sql(v.path, 'SELECT hex(salt) s, hex(wrapped_key) w FROM slots'), before);
  } finally {
    v.cleanup();
  }
});

test('passwd on a vault left with only a master key sets a passphrase again', async () => {
  const v = await passphraseVault({ cheap: true });
  try {
    const add = await runInProcess(['key', 'add', '--label', 'ci', '--json'], { env: v.env });
    const key = (JSON.parse(add.out) as { key: string }).key;
    const pid = String(sql(v.path, `SELECT id FROM slots WHERE kind = 'passphrase'`)[0]!.id);
    assert.equal((await runInProcess(['key', 'rm', pid, '--yes'], { env: v.env })).status, 0);
    const ci = { VAULT_PATH: v.path, VAULT_MASTER_KEY: key };
    const r = await runInProcess(['passwd'], { env: { ...ci, VAULT_NEW_PASSPHRASE: NEW } });
    assert.equal(r.status, 0, r.stderr);
    const id = String(sql(v.path, `SELECT id FROM slots WHERE kind = 'passphrase'`)[0]!.id);
    assert.equal(r.stderr, `set a passphrase for ${v.path} (slot ${id})\n`);
    const put = await runInProcess(['put', 'Z'], { env: { VAULT_PATH: v.path, VAULT_PASSPHRASE: NEW }, input: 'z' });
    assert.equal(put.status, 0, put.stderr);
  } finally {
    v.cleanup();
  }
});
