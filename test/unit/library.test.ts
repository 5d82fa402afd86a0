import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { openVault, Vault, VaultError } from '../../src/index.js';
import { tempDir } from '../helpers/cli.js';

const PASS = 'library test passphrase';

async function withLibraryVault(fn: (path: string) => Promise<void>): Promise<void> {
  const { dir, cleanup } = tempDir();
  try {
    const path = join(dir, 'lib.db');
    // The floor of the bounds: cheap for tests, and only reachable through the library.
    (await Vault.create(path, { passphrase: Buffer.from(PASS), kdf: { name: 'scrypt', params: { N: 2 ** 14, r: 8, p: 1 } } })).close();
    await fn(path);
  } finally {
    cleanup();
  }
}

test('library: put, get, getJson, getBuffer, list, env and maskSecrets on a real vault file', async () => {
  await withLibraryVault(async (path) => {
    const v = await openVault({ path, unlock: { passphrase: PASS }, env: {} });
    try {
      assert.equal(v.ns, 'default');
      assert.deepEqual(v.put('DB_URL', 'postgres://u:pw@host/db'), { version: 1 });
      assert.deepEqual(v.put('CONFIG', '{"retries":3,"hosts":["a","b"]}'), { version: 1 });
      assert.deepEqual(v.put('ci/TOKEN', Buffer.from([0x74, 0x6f, 0x6b, 0x31])), { version: 1 });
      assert.deepEqual(v.put('DB_URL', 'postgres://u:pw2@host/db', { force: true }), { version: 2 });
      assert.equal(v.get('DB_URL'), 'postgres://u:pw2@host/db');
      assert.equal(v.get('DB_URL', { version: 1 }), 'postgres://u:pw@host/db');
      assert.deepEqual(v.getJson('CONFIG'), { retries: 3, hosts: ['a', 'b'] });
      assert.deepEqual(v.getBuffer('ci/TOKEN'), Buffer.from('tok1'));
      assert.deepEqual(v.list().map((s) => [s.ns, s.name, s.version]), [['default', 'CONFIG', 1], ['default', 'DB_URL', 2]]);
      assert.deepEqual(v.list({ allNamespaces: true }).map((s) => `${s.ns}/${s.name}`), ['ci/TOKEN', 'default/CONFIG', 'default/DB_URL']);
      assert.deepEqual(v.env(), { CONFIG: '{"retries":3,"hosts":["a","b"]}', DB_URL: 'postgres://u:pw2@host/db' });
      assert.equal(
        v.maskSecrets('connecting to postgres://u:pw2@host/db with tok1 and postgres://u:pw@host/db'),
        'connecting to ***** with ***** and *****',
      );
    } finally {
      v.close();
    }
  });
});

test('library: errors are VaultErrors with the codes of SPEC §8', async () => {
  await withLibraryVault(async (path) => {
    await assert.rejects(openVault({ path, unlock: { passphrase: 'wrong passphrase' }, env: {} }), (e: unknown) => e instanceof VaultError && e.code === 'auth-failed' && e.exitStatus === 5);
    await assert.rejects(openVault({ path: path + '.absent', unlock: { passphrase: PASS }, env: {} }), (e: unknown) => e instanceof VaultError && e.code === 'not-initialized');
    await assert.rejects(openVault({ path, unlock: { masterKey: 'not-a-key' }, env: {} }), (e: unknown) => e instanceof VaultError && e.code === 'usage' && e.message === 'the master key is not a vault master key');
    // A well-formed master key on a vault with no master-key slot: auth-failed (5), as in the
    // CLI, and recorded as a failed unlock (one composition root, src/core/open.ts).
    const failedBefore = (await import('../helpers/sqlite.js')).auditLog(path).filter((e) => e.op === 'unlock').length;
    await assert.rejects(
      openVault({ path, unlock: { masterKey: `vault1-${'A'.repeat(43)}` }, env: {} }),
      (e: unknown) => e instanceof VaultError && e.code === 'auth-failed' && e.message === 'wrong passphrase or key',
    );
    assert.equal((await import('../helpers/sqlite.js')).auditLog(path).filter((e) => e.op === 'unlock').length, failedBefore + 1);
    const v = await openVault({ path, unlock: { passphrase: PASS }, env: { VAULT_NS: 'prod' } });
    try {
      assert.equal(v.ns, 'prod');
      v.put('NOT_JSON', 'plain text');
      const entries = (): number => v.vault.auditLog().length;
      const before = entries();
      assert.throws(() => v.get('MISSING'), (e: unknown) => e instanceof VaultError && e.code === 'not-found' && e.message === 'no secret prod/MISSING');
      assert.equal(entries(), before, 'a missing name is not recorded, as `vault get MISSING` does not record it');
      assert.throws(() => v.getJson('NOT_JSON'), (e: unknown) => e instanceof VaultError && e.code === 'usage' && e.message === 'secret prod/NOT_JSON is not valid JSON');
      assert.throws(() => v.put('NOT_JSON', 'again'), (e: unknown) => e instanceof VaultError && e.code === 'exists');
      assert.throws(() => v.put('bad name', 'x'), (e: unknown) => e instanceof VaultError && e.code === 'usage');
    } finally {
      v.close();
    }
  });
});
