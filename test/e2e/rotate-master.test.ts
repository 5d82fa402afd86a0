import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { passphraseVault, runInProcess } from '../helpers/cli.js';
import { keyMaterial, sql } from '../helpers/sqlite.js';

/** ns/name → its values by version (index 0 = version 1). */
const VALUES: Record<string, string[]> = {
  'default/API_KEY': ['api-key-version-one', 'api-key-version-two', 'api-key-version-three'],
  'default/DB_URL': ['postgres://u:p@db/app'],
  'default/OLD_TOKEN': ['old-token-first', 'old-token-second'],
  'ci/DEPLOY_KEY': ['deploy-key-for-ci-only'],
};

async function populated() {
  const v = await passphraseVault({ cheap: true });
  const add = await runInProcess(['key', 'add', '--label', 'ci', '--json'], { env: v.env });
  assert.equal(add.status, 0, add.stderr);
  const key = (JSON.parse(add.out) as { key: string }).key;
  const ci = { VAULT_PATH: v.path, VAULT_MASTER_KEY: key };
  for (const [ref, values] of Object.entries(VALUES)) {
    for (const value of values) {
      const r = await runInProcess(['put', ref, '--force'], { env: ci, input: value });
      assert.equal(r.status, 0, r.stderr);
    }
  }
  assert.equal((await runInProcess(['rm', 'OLD_TOKEN', '--yes'], { env: ci })).status, 0);
  return { ...v, key, ci, pass: v.env };
}

/** Reads every version of every secret through the CLI; a removed secret is first restored. */
async function readAll(env: Record<string, string>): Promise<void> {
  for (const [ref, values] of Object.entries(VALUES)) {
    if (ref === 'default/OLD_TOKEN') continue;
    for (let i = 0; i < values.length; i++) {
      const r = await runInProcess(['get', ref, '--version', String(i + 1)], { env });
      assert.equal(r.status, 0, `${ref}@${i + 1}: ${r.stderr}`);
      assert.equal(r.out, values[i]);
    }
  }
}

function fileAndWal(path: string): Buffer {
  const wal = `${path}-wal`;
  return Buffer.concat([readFileSync(path), existsSync(wal) ? readFileSync(wal) : Buffer.alloc(0)]);
}

test('rotate --master changes every ciphertext and wrapped key, and every version and slot still works', async () => {
  const v = await populated();
  try {
    const before = keyMaterial(v.path);
    const publicKeys = sql(v.path, 'SELECT id, hex(public_key) pk, kdf, kdf_params, hex(salt) s FROM slots ORDER BY id');
    const others = sql(v.path, 'SELECT secret_id, version, size, origin, created_at, expires_at FROM versions ORDER BY secret_id, version');
    assert.equal(before.versions.size, 7);
    assert.equal(before.slots.size, 2);

    const r = await runInProcess(['rotate', '--master'], { env: v.pass });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.out, '');
    assert.equal(r.stderr, 'rotated the data key: re-encrypted 7 versions, re-wrapped 2 key slots (1 takes the new key at its next unlock)\n');

    const after = keyMaterial(v.path);
    assert.deepEqual([...after.versions.keys()].sort(), [...before.versions.keys()].sort());
    for (const [row, old] of before.versions) assert.notEqual(after.versions.get(row), old, `version ${row} was not re-encrypted`);
    for (const [id, old] of before.slots) assert.notEqual(after.slots.get(id), old, `slot ${id} was not re-wrapped`);
    assert.notEqual(after.auditKey, before.auditKey);
    // Slots keep their identity (public key, KDF, salt); the rows' other columns are untouched.
    assert.deepEqual(sql(v.path, 'SELECT id, hex(public_key) pk, kdf, kdf_params, hex(salt) s FROM slots ORDER BY id'), publicKeys);
    assert.deepEqual(sql(v.path, 'SELECT secret_id, version, size, origin, created_at, expires_at FROM versions ORDER BY secret_id, version'), others);

    // No old ciphertext, the passphrase slot's old wrap (re-sealed: its passphrase was at
    // hand) or sealed audit key survives anywhere in the files. The master-key slot keeps its
    // sealed wrap of the old key, which only its own key opens, plus a pending link to the new
    // one, until its next unlock re-seals it (docs/security.md).
    const bytes = fileAndWal(v.path);
    const passSlot = String(sql(v.path, `SELECT id FROM slots WHERE kind = 'passphrase'`)[0]!.id);
    for (const old of [...before.versions.values(), before.slots.get(passSlot)!]) {
      for (const part of old.split(':').filter((p) => p !== 'null' && p !== '')) assert.equal(bytes.indexOf(Buffer.from(part, 'hex')), -1, `old bytes ${part.slice(0, 16)}… remain in the file`);
    }
    assert.equal(bytes.indexOf(Buffer.from(before.auditKey, 'base64')), -1);
    assert.ok(!existsSync(`${v.path}-wal`) || readFileSync(`${v.path}-wal`).length === 0);

    // Every version readable through both slots; the removed secret's versions too.
    await readAll(v.pass);
    await readAll(v.ci);
    const restore = await runInProcess(['rollback', 'OLD_TOKEN', '1'], { env: v.ci });
    assert.equal(restore.status, 0, restore.stderr);
    assert.equal((await runInProcess(['get', 'OLD_TOKEN'], { env: v.pass })).out, 'old-token-first');
    assert.equal((await runInProcess(['get', 'OLD_TOKEN', '--version', '2'], { env: v.pass })).out, 'old-token-second');

    const audit = sql(v.path, `SELECT op, outcome, detail FROM audit WHERE op = 'rotate-master'`);
    assert.deepEqual(audit, [{ op: 'rotate-master', outcome: 'ok', detail: JSON.stringify({ versions: 7, slots: 2, pending: 1 }) }]);
    // The master-key slot's next unlock followed its pending link and re-sealed it.
    assert.deepEqual(sql(v.path, `SELECT kind, pending IS NULL AS sealed FROM slots ORDER BY kind`), [
      { kind: 'master-key', sealed: 1 },
      { kind: 'passphrase', sealed: 1 },
    ]);
  } finally {
    v.cleanup();
  }
});

test('rotate --master twice in a row, unlocked by the master key, with --json', async () => {
  const v = await populated();
  try {
    for (let i = 0; i < 2; i++) {
      const r = await runInProcess(['rotate', '--master', '--json'], { env: v.ci });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.equal(r.out, '{"versions":7,"slots":2,"pending":1}\n');
    }
    // two rotations before the passphrase slot's next unlock: it follows a chain of two links
    assert.equal(sql(v.path, `SELECT length(pending) AS n FROM slots WHERE kind = 'passphrase'`)[0]!.n, 2 * 124);
    await readAll(v.ci);
    await readAll(v.pass);
  } finally {
    v.cleanup();
  }
});

test('rotate --master needs an unlocked vault: locked → 4, wrong passphrase → 5, nothing changed', async () => {
  const v = await populated();
  try {
    const before = keyMaterial(v.path);
    const locked = await runInProcess(['rotate', '--master'], { env: { VAULT_PATH: v.path } });
    assert.equal(locked.status, 4);
    assert.equal(locked.stderr.split('\n')[0], 'vault: error: the vault is locked and no way to unlock it was given');
    const wrong = await runInProcess(['rotate', '--master'], { env: { VAULT_PATH: v.path, VAULT_PASSPHRASE: 'nope' } });
    assert.equal(wrong.status, 5);
    assert.equal(wrong.stderr, 'vault: error: wrong passphrase or key\n');
    assert.deepEqual(keyMaterial(v.path), before);
  } finally {
    v.cleanup();
  }
});

test('a slot whose public key was swapped makes rotate --master refuse (7) before writing anything', async () => {
  const v = await populated();
  try {
    const id = String(sql(v.path, `SELECT id FROM slots WHERE kind = 'master-key'`)[0]!.id);
    // An attacker who can write the file swaps in a public key of their own, hoping to be
    // sent the next data key.
    sql(v.path, `UPDATE slots SET public_key = randomblob(32) WHERE id = '${id}'`);
    const before = keyMaterial(v.path);
    const r = await runInProcess(['rotate', '--master'], { env: v.pass });
    assert.equal(r.status, 7);
    assert.equal(r.out, '');
    assert.equal(
      r.stderr,
      `vault: error: key slot ${id} failed its integrity check: it was added or edited without a key\n` +
        'vault: hint: the vault file may have been tampered with; restore it from a backup\n',
    );
    assert.deepEqual(keyMaterial(v.path), before);
    // refused at the unlock, before the rotation began
    assert.deepEqual(sql(v.path, `SELECT op, outcome FROM audit WHERE op = 'rotate-master'`), []);
    // The swapped slot no longer opens (its key is bound into the wrap); the passphrase still does.
    const ci = await runInProcess(['get', 'API_KEY'], { env: v.ci });
    assert.equal(ci.status, 5);
    const pass = await runInProcess(['get', 'API_KEY'], { env: v.pass });
    assert.equal(pass.status, 7, 'and the vault refuses to unlock while the edited slot is in it');
  } finally {
    v.cleanup();
  }
});

test('a tampered ciphertext makes rotate --master refuse (7) and roll back', async () => {
  const v = await populated();
  try {
    sql(v.path, `UPDATE versions SET ciphertext = randomblob(length(ciphertext)) WHERE version = 2 AND secret_id = (SELECT id FROM secrets WHERE name = 'API_KEY')`);
    const before = keyMaterial(v.path);
    const r = await runInProcess(['rotate', '--master'], { env: v.pass });
    assert.equal(r.status, 7);
    assert.equal(
      r.stderr,
      'vault: error: secret default/API_KEY version 2 failed its integrity check; nothing was rotated\nvault: hint: the vault file may have been tampered with; restore it from a backup\n',
    );
    assert.deepEqual(keyMaterial(v.path), before);
  } finally {
    v.cleanup();
  }
});
