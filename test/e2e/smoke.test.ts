import assert from 'node:assert/strict';
import { test } from 'node:test';
import { freshVault, runInProcess } from '../helpers/cli.js';

test('put then get returns the exact bytes, with no newline added in a pipe', async () => {
  const v = await freshVault();
  try {
    const put = await runInProcess(['put', 'API_KEY'], { env: v.env, input: 'hunter2\n' });
    assert.equal(put.status, 0, put.stderr);
    assert.equal(put.stderr, 'stored default/API_KEY version 1\n');
    assert.equal(put.out, '');
    const get = await runInProcess(['get', 'API_KEY'], { env: v.env });
    assert.equal(get.status, 0, get.stderr);
    assert.deepEqual(get.stdout, Buffer.from('hunter2'));
    assert.equal(get.stderr, '');
  } finally {
    v.cleanup();
  }
});
