import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { encodeAad, open, seal } from '../../src/crypto/aead.js';
import { defaultKdf, deriveKek, parseKdf } from '../../src/crypto/kdf.js';
import { buildSlot, FORMAT_VERSION, slotAad, valueAad, Vault, type SlotRow } from '../../src/core/vault.js';
import { freshVault, PASSPHRASE, runVault } from '../helpers/cli.js';
import { auditRows, sqlite, sqliteJson } from '../helpers/sqlite-cli.js';

/**
 * The audit chain must keep verifying across `vault passwd` (which re-wraps the data key and
 * leaves the audit key alone) and `vault rotate --master` (a new data key: the SAME audit key
 * is re-sealed under it). When those commands exist this test runs them; until then it does
 * to the file, through the library, exactly what they do to the keys.
 */

const NEW_PASSPHRASE = 'a brand new passphrase';

async function commandsExist(): Promise<{ passwd: boolean; rotateMaster: boolean }> {
  const help = await runVault(['--help']);
  const rotate = await runVault(['rotate', '--help']);
  return {
    passwd: /^ {2}passwd\b/m.test(help.out),
    rotateMaster: rotate.status === 0 && rotate.out.includes('--master'),
  };
}

function unwrapDataKey(vault: Vault, slot: SlotRow, kek: Buffer): Buffer {
  const key = open(kek, slot.nonce, slot.wrapped_key, slotAad(vault.id, slot));
  assert.ok(key, 'the passphrase opens the slot');
  return key;
}

async function passphraseSlot(vault: Vault, passphrase: string): Promise<{ slot: SlotRow; dataKey: Buffer }> {
  const slot = vault.database.prepare(`SELECT * FROM slots WHERE kind = 'passphrase'`).get() as SlotRow;
  const kek = await deriveKek(parseKdf(slot.kdf, slot.kdf_params), Buffer.from(passphrase), slot.salt);
  return { slot, dataKey: unwrapDataKey(vault, slot, kek) };
}

async function rewrapSlot(vault: Vault, slot: SlotRow, passphrase: string, dataKey: Buffer): Promise<void> {
  const fresh = await buildSlot(vault.id, 'passphrase', slot.label, defaultKdf('scrypt'), Buffer.from(passphrase), dataKey, slot.created_at, slot.id);
  vault.database
    .prepare('UPDATE slots SET kdf = ?, kdf_params = ?, salt = ?, nonce = ?, wrapped_key = ? WHERE id = ?')
    .run(fresh.kdf, fresh.kdf_params, fresh.salt, fresh.nonce, fresh.wrapped_key, slot.id);
}

/** What `vault passwd` does to the keys: the data key re-wrapped under a new passphrase. */
async function simulatePasswd(path: string, from: string, to: string): Promise<void> {
  const vault = Vault.open(path);
  try {
    const { slot, dataKey } = await passphraseSlot(vault, from);
    await rewrapSlot(vault, slot, to, dataKey);
    await vault.unlockWithPassphrase(Buffer.from(to));
    vault.transact(() => vault.record({ op: 'passwd', outcome: 'ok', detail: { slot: slot.id } }));
  } finally {
    vault.close();
  }
}

/** What `vault rotate --master` does: a new data key, every version re-encrypted, the same audit key re-sealed. */
async function simulateRotateMaster(path: string, passphrase: string): Promise<void> {
  const vault = Vault.open(path);
  try {
    const db = vault.database;
    const { slot, dataKey } = await passphraseSlot(vault, passphrase);
    const auditAad = encodeAad('vault/audit-key/v1', [vault.id, FORMAT_VERSION]);
    const sealedAudit = Buffer.from((db.prepare(`SELECT value FROM meta WHERE key = 'audit_key'`).get() as { value: string }).value, 'base64');
    const auditKey = open(dataKey, sealedAudit.subarray(0, 12), sealedAudit.subarray(12), auditAad);
    assert.ok(auditKey);
    const newKey = randomBytes(32);
    const versions = db
      .prepare('SELECT v.secret_id, v.version, v.nonce, v.ciphertext, s.ns, s.name FROM versions v JOIN secrets s ON s.id = v.secret_id')
      .all() as Array<{ secret_id: number; version: number; nonce: Buffer; ciphertext: Buffer; ns: string; name: string }>;
    db.transaction(() => {
      for (const v of versions) {
        const plain = open(dataKey, v.nonce, v.ciphertext, valueAad(vault.id, v, v.version));
        assert.ok(plain);
        const { nonce, box } = seal(newKey, plain, valueAad(vault.id, v, v.version));
        db.prepare('UPDATE versions SET nonce = ?, ciphertext = ? WHERE secret_id = ? AND version = ?').run(nonce, box, v.secret_id, v.version);
      }
      const { nonce, box } = seal(newKey, auditKey, auditAad);
      db.prepare(`UPDATE meta SET value = ? WHERE key = 'audit_key'`).run(Buffer.concat([nonce, box]).toString('base64'));
    })();
    await rewrapSlot(vault, slot, passphrase, newKey);
    await vault.unlockWithPassphrase(Buffer.from(passphrase));
    vault.transact(() => vault.record({ op: 'rotate-master', outcome: 'ok', detail: { versions: versions.length, slots: 1 } }));
  } finally {
    vault.close();
  }
}

test('audit verify passes across passwd and rotate --master', async () => {
  const v = await freshVault();
  try {
    const exist = await commandsExist();
    // Recorded for the reader of the test log: which path ran.
    process.stdout.write(`# passwd: ${exist.passwd ? 'real command' : 'simulated'}; rotate --master: ${exist.rotateMaster ? 'real command' : 'simulated'}\n`);
    const put = await runVault(['put', 'API_KEY'], { env: v.env, input: 'value-1' });
    assert.equal(put.status, 0, put.stderr);
    assert.equal((await runVault(['get', 'API_KEY'], { env: v.env })).status, 0);

    const auditKeyRow = (): string => sqliteJson<{ value: string }>(v.path, `SELECT value FROM meta WHERE key = 'audit_key'`)[0]!.value;
    const sealedAuditKey = auditKeyRow();
    if (exist.passwd) {
      const r = await runVault(['passwd'], { env: { ...v.env, VAULT_NEW_PASSPHRASE: NEW_PASSPHRASE } });
      assert.equal(r.status, 0, r.stderr);
    } else {
      await simulatePasswd(v.path, PASSPHRASE, NEW_PASSPHRASE);
    }
    assert.equal(auditKeyRow(), sealedAuditKey, 'passwd leaves the sealed audit key alone');
    const env = { ...v.env, VAULT_PASSPHRASE: NEW_PASSPHRASE };
    let r = await runVault(['audit', 'verify'], { env });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, `audit log verified: ${auditRows(v.path).length} entries\n`);

    if (exist.rotateMaster) {
      const rot = await runVault(['rotate', '--master'], { env });
      assert.equal(rot.status, 0, rot.stderr);
    } else {
      await simulateRotateMaster(v.path, NEW_PASSPHRASE);
    }
    assert.notEqual(auditKeyRow(), sealedAuditKey, 'rotate --master re-seals the audit key');
    const get = await runVault(['get', 'API_KEY'], { env });
    assert.equal(get.status, 0, get.stderr);
    assert.equal(get.out, 'value-1');

    const rows = auditRows(v.path);
    assert.deepEqual(rows.map((x) => x.op), ['init', 'put', 'get', 'passwd', 'rotate-master', 'get']);
    r = await runVault(['audit', 'verify'], { env });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, 'audit log verified: 6 entries\n');

    // And the chain still catches tampering after the rotation.
    sqlite(v.path, "UPDATE audit SET op = 'put' WHERE seq = 3");
    r = await runVault(['audit', 'verify'], { env });
    assert.equal(r.status, 7);
    assert.equal(r.stderr.split('\n')[0], 'vault: error: audit log verification failed at entry #3: edited (its content no longer matches its mac)');
  } finally {
    v.cleanup();
  }
});
