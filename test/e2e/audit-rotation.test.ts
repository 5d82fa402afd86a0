import assert from 'node:assert/strict';
import { test } from 'node:test';
import { passphraseVault, runInProcess } from '../helpers/cli.js';
import { auditRows, sqlite, sqliteJson } from '../helpers/sqlite.js';

/**
 * The audit chain must keep verifying across `vault passwd` (which re-wraps the data key and
 * leaves the audit keys alone) and `vault rotate --master` (a new data key AND a new audit
 * key: the rotate-master entry is the last one under the old key, the next one chains from it
 * under the new key, and both keys are kept sealed under the new data key).
 */

const NEW_PASSPHRASE = 'a brand new passphrase';

test('audit verify passes across passwd and rotate --master', async () => {
  const v = await passphraseVault({ cheap: true });
  try {
    const put = await runInProcess(['put', 'API_KEY'], { env: v.env, input: 'value-1' });
    assert.equal(put.status, 0, put.stderr);
    assert.equal((await runInProcess(['get', 'API_KEY'], { env: v.env })).status, 0);

    const auditKeyRow = (): string => sqliteJson<{ value: string }>(v.path, `SELECT value FROM meta WHERE key = 'audit_keys'`)[0]!.value;
    const sealedAuditKey = auditKeyRow();
    const passwd = await runInProcess(['passwd'], { env: { ...v.env, VAULT_NEW_PASSPHRASE: NEW_PASSPHRASE } });
    assert.equal(passwd.status, 0, passwd.stderr);
    assert.equal(auditKeyRow(), sealedAuditKey, 'passwd leaves the sealed audit key alone');
    const env = { ...v.env, VAULT_PASSPHRASE: NEW_PASSPHRASE };
    let r = await runInProcess(['audit', 'verify'], { env });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, `audit log verified: ${auditRows(v.path).length} entries\n`);

    const rot = await runInProcess(['rotate', '--master'], { env });
    assert.equal(rot.status, 0, rot.stderr);
    assert.notEqual(auditKeyRow(), sealedAuditKey, 'rotate --master seals a new audit key list');
    const get = await runInProcess(['get', 'API_KEY'], { env });
    assert.equal(get.status, 0, get.stderr);
    assert.equal(get.out, 'value-1');

    const rows = auditRows(v.path);
    assert.deepEqual(rows.map((x) => x.op), ['init', 'put', 'get', 'passwd', 'rotate-master', 'get']);
    r = await runInProcess(['audit', 'verify'], { env });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, 'audit log verified: 6 entries\n');

    // And the chain still catches tampering after the rotation.
    sqlite(v.path, "UPDATE audit SET op = 'put' WHERE seq = 3");
    r = await runInProcess(['audit', 'verify'], { env });
    assert.equal(r.status, 7);
    assert.equal(r.stderr.split('\n')[0], 'vault: error: audit log verification failed at entry #3: edited (its content no longer matches its mac)');
  } finally {
    v.cleanup();
  }
});
