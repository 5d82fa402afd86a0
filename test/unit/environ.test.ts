import assert from 'node:assert/strict';
import { test } from 'node:test';
import { environmentRange, valueRanges } from '../../src/cli/environ.js';

test('environmentRange reads fields 50 and 51 of /proc/self/stat, counting after the last ")" of comm', () => {
  // Fields 3…52 after a comm that holds spaces and parentheses; env_start/env_end are 50 and 51.
  const after = Array.from({ length: 50 }, (_, i) => String(i + 3));
  after[50 - 3] = '140737488347000';
  after[51 - 3] = '140737488349000';
  const stat = `1234 (we) ird (name) ${after.join(' ')}\n`;
  assert.deepEqual(environmentRange(stat), { start: 140737488347000, end: 140737488349000 });
  assert.equal(environmentRange('1234 (short) S 1 2'), null);
});

test('valueRanges finds the value bytes of each NAME=value entry, exact names only', () => {
  const block = Buffer.from('A=1\0VAULT_MASTER_KEY=vault1-k\0VAULT_MASTER_KEY_FILE=/f\0XVAULT_PASSPHRASE=no\0VAULT_PASSPHRASE=p w\0VAULT_PASSPHRASE=\0');
  const ranges = valueRanges(block, ['VAULT_MASTER_KEY', 'VAULT_PASSPHRASE']);
  assert.deepEqual(
    ranges.map((r) => block.subarray(r.from, r.to).toString()),
    ['vault1-k', 'p w'],
  );
});
