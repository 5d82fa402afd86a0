import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { rotateMasterKey } from '../../src/keyring/rotate.js';
import { Vault } from '../../src/core/vault.js';
import { addMasterKey } from '../../src/unlock/slots.js';
import { PASSPHRASE, tempDir } from '../helpers/cli.js';

const REF = { ns: 'default', name: 'A' };
const STALE = 'the vault key was rotated by another process after this one unlocked; nothing was done';

test('a process that unlocked before another ran rotate --master cannot write or read with the old key', async () => {
  const tmp = tempDir();
  try {
    const path = join(tmp.dir, 'vault.db');
    const first = await Vault.create(path, { passphrase: Buffer.from(PASSPHRASE), kdf: { name: 'scrypt', params: { N: 2 ** 14, r: 8, p: 1 } } });
    first.put(REF, Buffer.from('one'));
    const second = Vault.open(path);
    await second.unlockWithPassphrase(Buffer.from(PASSPHRASE));
    const rotated = rotateMasterKey(second);
    assert.deepEqual([rotated.versions, rotated.slots], [1, 1]);

    // `first` still holds the old data key.
    const before = first.database.prepare('SELECT nonce, ciphertext FROM versions').all();
    for (const op of [
      () => first.put(REF, Buffer.from('two'), { force: true }),
      () => first.get(REF),
      () => first.rotate(REF, Buffer.from('three')),
    ]) {
      assert.throws(op, (e: Error & { code?: string }) => e.message === STALE && e.code === 'error');
    }
    await assert.rejects(addMasterKey(first, 'ci'), (e: Error) => e.message === STALE);
    assert.deepEqual(first.database.prepare('SELECT nonce, ciphertext FROM versions').all(), before);
    assert.equal((first.database.prepare(`SELECT COUNT(*) AS n FROM slots`).get() as { n: number }).n, 1);

    // The rotating instance goes on with the new key; a fresh unlock reads everything.
    assert.equal(second.get(REF).value.toString(), 'one');
    second.put(REF, Buffer.from('two'), { force: true });
    first.close();
    second.close();
    const third = Vault.open(path);
    await third.unlockWithPassphrase(Buffer.from(PASSPHRASE));
    assert.equal(third.get(REF, { version: 1 }).value.toString(), 'one');
    assert.equal(third.get(REF).value.toString(), 'two');
    third.close();
  } finally {
    tmp.cleanup();
  }
});
