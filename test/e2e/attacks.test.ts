import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { encodeAad } from '../../src/crypto/aead.js';
import { mac, subkey } from '../../src/crypto/mac.js';
import { wrapToPublicKey } from '../../src/crypto/slotwrap.js';
import { buildSlot } from '../../src/keyring/keyring.js';
import { runInProcess, runVault } from '../helpers/cli.js';
import { blob, exec, query } from '../helpers/sqlite.js';
import { cheapVault, openWithKey } from '../helpers/vaults.js';

/**
 * The threat model's file writer (docs/security.md): someone who can write the vault file but
 * holds no key. Each test replays one attack against the real file, edited from outside
 * (python3's sqlite3), and runs the real CLI against it: every attack is refused with exit 7,
 * and nothing is served.
 */

type V = Awaited<ReturnType<typeof cheapVault>>;

async function withVault(fn: (v: V) => Promise<void>): Promise<void> {
  const v = await cheapVault();
  try {
    await fn(v);
  } finally {
    v.cleanup();
  }
}

async function put(v: V, name: string, value: string, extra: string[] = []): Promise<void> {
  const r = await runInProcess(['put', name, '--force', ...extra], { env: v.env, input: value });
  assert.equal(r.status, 0, r.stderr);
}

async function refused(v: V, args: string[], message: string, env: Record<string, string> = v.env): Promise<void> {
  const r = await runInProcess(args, { env });
  assert.equal(r.out, '', 'nothing is served');
  assert.equal(r.stderr.split('\n')[0], `vault: error: ${message}`);
  assert.equal(r.status, 7, r.stderr);
}

function vaultId(path: string): string {
  return String(query(path, `SELECT value FROM meta WHERE key = 'vault_id'`)[0]!.value);
}

test('finding 1, replayed: a data key wrapped by the writer to every slot public key (0.1 style) is refused', async () => {
  await withVault(async (v) => {
    await put(v, 'API_KEY', 'the-real-value');
    const id = vaultId(v.path);
    const evil = randomBytes(32);
    for (const s of query(v.path, 'SELECT id, kind, kdf, kdf_params, salt, public_key FROM slots')) {
      const pub = blob(s.public_key);
      const fields = (eph: Buffer): Buffer => encodeAad('vault/slot/v2', [id, 1, String(s.id), String(s.kind), String(s.kdf), String(s.kdf_params), blob(s.salt), pub, eph]);
      const w = wrapToPublicKey(pub, evil, fields);
      const keyMac = mac(subkey(evil, 'vault/slot-mac/v1'), 'vault/slot-mac/v1', [id, 1, String(s.id), String(s.kind), String(s.kdf), String(s.kdf_params), blob(s.salt), pub]);
      exec(v.path, 'UPDATE slots SET wrap_format = 1, ephemeral_key = ?, nonce = ?, wrapped_key = ?, key_mac = ?, pending = NULL WHERE id = ?', [w.ephemeralKey, w.nonce, w.box, keyMac, String(s.id)]);
    }
    await refused(v, ['get', 'API_KEY'], "the data key this slot holds is not the vault's: the vault's own keys do not open under it");
    const pass = { VAULT_PATH: v.path, VAULT_PASSPHRASE: 'correct horse battery staple', XDG_STATE_HOME: v.state };
    await refused(v, ['get', 'API_KEY'], "the data key this slot holds is not the vault's: the vault's own keys do not open under it", pass);
    // and a put, which would encrypt under the planted key, writes nothing
    const before = query(v.path, 'SELECT COUNT(*) AS n FROM versions')[0]!.n;
    const r = await runInProcess(['put', 'NEW_ONE'], { env: v.env, input: 'x' });
    assert.equal(r.status, 7);
    assert.equal(query(v.path, 'SELECT COUNT(*) AS n FROM versions')[0]!.n, before);
  });
});

test('a sealed wrap moved from another slot, or a byte of it changed, is refused as tampering (7), not as a wrong key (5)', async () => {
  await withVault(async (v) => {
    await put(v, 'API_KEY', 'x');
    const [pass, master] = query(v.path, `SELECT id, nonce, wrapped_key FROM slots ORDER BY kind DESC`);
    exec(v.path, 'UPDATE slots SET nonce = ?, wrapped_key = ? WHERE id = ?', [blob(pass!.nonce), blob(pass!.wrapped_key), String(master!.id)]);
    await refused(v, ['get', 'API_KEY'], `key slot ${String(master!.id)} failed its integrity check: it holds a key that was not sealed by its owner`);
  });
});

test('a pending link forged without the data key is refused', async () => {
  await withVault(async (v) => {
    await put(v, 'API_KEY', 'x');
    const id = vaultId(v.path);
    const s = query(v.path, `SELECT id, public_key FROM slots WHERE kind = 'master-key'`)[0]!;
    const evil = randomBytes(32);
    const w = wrapToPublicKey(blob(s.public_key), evil, (eph) => encodeAad('vault/pending-link/v1', [id, String(s.id), blob(s.public_key), 0, eph]));
    exec(v.path, 'UPDATE slots SET pending = ? WHERE id = ?', [Buffer.concat([w.ephemeralKey, w.nonce, w.box, randomBytes(32)]), String(s.id)]);
    await refused(v, ['get', 'API_KEY'], `key slot ${String(s.id)} failed its integrity check: a rotated key was not made by a key holder`);
  });
});

test('a slot planted by the writer fails its MAC: the vault refuses to unlock, and rotate --master never wraps to it', async () => {
  await withVault(async (v) => {
    await put(v, 'API_KEY', 'x');
    const id = vaultId(v.path);
    // The writer's own master-key slot, sealing a key of their choosing.
    const { row } = await buildSlot(id, 'master-key', 'planted', { name: 'hkdf-sha256', params: {} }, randomBytes(32), randomBytes(32), Date.now(), 'deadbeef');
    exec(
      v.path,
      `INSERT INTO slots (id, kind, label, kdf, kdf_params, salt, nonce, wrapped_key, created_at, public_key, key_mac, wrap_format)
       VALUES (?, 'master-key', 'planted', 'hkdf-sha256', '', ?, ?, ?, ?, ?, ?, 2)`,
      [row.id, row.salt, row.nonce, row.wrapped_key, row.created_at, row.public_key, randomBytes(32)],
    );
    await refused(v, ['get', 'API_KEY'], 'key slot deadbeef failed its integrity check: it was added or edited without a key');
    await refused(v, ['rotate', '--master'], 'key slot deadbeef failed its integrity check: it was added or edited without a key');
    assert.equal(query(v.path, `SELECT pending FROM slots WHERE id = 'deadbeef'`)[0]!.pending, null);
  });
});

test('a flood of planted slots is refused by its count before any slot MAC is checked', async () => {
  await withVault(async (v) => {
    await put(v, 'API_KEY', 'x');
    // 1,024 member slots (KDF none, random keys) planted at once beside the fixture's two.
    exec(
      v.path,
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1024)
       INSERT INTO slots (id, kind, label, kdf, kdf_params, salt, nonce, wrapped_key, created_at, public_key, key_mac, wrap_format)
       SELECT printf('%08x', i), 'member', 'm' || i, 'none', '', randomblob(16), x'', x'', 0, randomblob(32), randomblob(32), 2 FROM n`,
    );
    const total = Number(query(v.path, 'SELECT COUNT(*) AS n FROM slots')[0]!.n);
    assert.equal(total, 1026);
    await refused(v, ['get', 'API_KEY'], 'the vault has 1026 key slots, more than the 1024 a vault may have');
  });
});

test('finding 2: a secret rolled back to an older row, or its version, expiry, removal, description or a slot label edited, is refused', async () => {
  await withVault(async (v) => {
    await put(v, 'API_KEY', 'value-1', ['--description', 'first']);
    const old = query(v.path, `SELECT * FROM secrets WHERE name = 'API_KEY'`)[0]!;
    await put(v, 'API_KEY', 'value-2');
    await put(v, 'OTHER', 'other', ['--ttl', '1d']);
    // Each edit starts from this state: the file and its rollback anchor as they are now (a
    // put-back file alone would be caught as a rollback, which is another test).
    const snapshot = readFileSync(v.path);
    const { readdirSync } = await import('node:fs');
    const anchors = readdirSync(v.anchors).map((n) => [`${v.anchors}/${n}`, readFileSync(`${v.anchors}/${n}`)] as const);
    const restore = (): void => {
      writeFileSync(v.path, snapshot);
      for (const [file, bytes] of anchors) writeFileSync(file, bytes);
    };

    // the whole old row, with its genuine old MAC
    exec(v.path, 'UPDATE secrets SET current_version = ?, updated_at = ?, description = ?, mac = ? WHERE name = ?', [Number(old.current_version), Number(old.updated_at), String(old.description), blob(old.mac), 'API_KEY']);
    await refused(v, ['get', 'API_KEY'], "the vault's secrets or key slots do not match its state record: rows were rolled back, removed, added or edited");
    restore();

    for (const edit of [
      `UPDATE secrets SET current_version = 1 WHERE name = 'API_KEY'`,
      `UPDATE secrets SET description = 'edited' WHERE name = 'API_KEY'`,
      `UPDATE secrets SET removed_at = 1 WHERE name = 'API_KEY'`,
      `UPDATE secrets SET expires_at = 4102444800000 WHERE name = 'API_KEY'`,
      `UPDATE secrets SET ns = 'other' WHERE name = 'API_KEY'`,
    ]) {
      exec(v.path, edit);
      const r = await runInProcess(['get', edit.includes("ns = 'other'") ? 'other/API_KEY' : 'API_KEY'], { env: v.env });
      assert.equal(r.out, '', edit);
      assert.equal(r.status, edit.includes('removed_at') ? 3 : 7, `${edit}: ${r.stderr}`);
      if (r.status === 7) assert.match(r.stderr, /^vault: error: secret (default|other)\/API_KEY failed its integrity check: its record was edited or rolled back\n/);
      restore();
    }
    // a revived removed secret: rm, then clear removed_at
    assert.equal((await runInProcess(['rm', 'API_KEY', '--yes'], { env: v.env })).status, 0);
    exec(v.path, `UPDATE secrets SET removed_at = NULL WHERE name = 'API_KEY'`);
    await refused(v, ['get', 'API_KEY'], 'secret default/API_KEY failed its integrity check: its record was edited or rolled back');
    restore();
    // the expiry bound into the version's ciphertext
    exec(v.path, `UPDATE versions SET expires_at = expires_at + 86400000 WHERE secret_id = (SELECT id FROM secrets WHERE name = 'OTHER')`);
    await refused(v, ['get', 'OTHER'], 'secret default/OTHER version 1 failed its integrity check');
    restore();
    // a slot label
    exec(v.path, `UPDATE slots SET label = 'renamed' WHERE kind = 'master-key'`);
    const sid = String(query(v.path, `SELECT id FROM slots WHERE kind = 'master-key'`)[0]!.id);
    await refused(v, ['get', 'API_KEY'], `key slot ${sid} failed its integrity check: it was added or edited without a key`);
    restore();
    const ok = await runInProcess(['get', 'API_KEY'], { env: v.env });
    assert.equal(ok.out, 'value-2', ok.stderr);
  });
});

test('finding 2: version numbers are never reused after rm --purge, and an old ciphertext put back never decrypts', async () => {
  await withVault(async (v) => {
    await put(v, 'API_KEY', 'purged-value');
    const oldVersion = query(v.path, `SELECT * FROM versions WHERE secret_id = (SELECT id FROM secrets WHERE name = 'API_KEY')`)[0]!;
    assert.equal((await runInProcess(['rm', 'API_KEY', '--purge', '--yes'], { env: v.env })).status, 0);
    assert.equal(query(v.path, 'SELECT COUNT(*) AS n FROM versions')[0]!.n, 0);
    await put(v, 'API_KEY', 'new-value');
    const h = await runInProcess(['history', 'API_KEY', '--json'], { env: v.env });
    assert.deepEqual((JSON.parse(h.out) as { versions: Array<{ version: number }> }).versions.map((x) => x.version), [2]);
    // the writer puts the purged version 1 back
    exec(v.path, `INSERT INTO versions (secret_id, version, nonce, ciphertext, size, expires_at, origin, created_at) VALUES ((SELECT id FROM secrets WHERE name = 'API_KEY'), 1, ?, ?, ?, NULL, 'put', ?)`, [
      blob(oldVersion.nonce), blob(oldVersion.ciphertext), Number(oldVersion.size), Number(oldVersion.created_at),
    ]);
    await refused(v, ['get', 'API_KEY', '--version', '1'], 'secret default/API_KEY version 1 failed its integrity check');
    await refused(v, ['rollback', 'API_KEY', '1'], 'secret default/API_KEY version 1 failed its integrity check');
  });
});

test('finding 3: an older copy of the whole file is refused as rolled back; vault accept-restore accepts it, audited', async () => {
  await withVault(async (v) => {
    await put(v, 'API_KEY', 'old-value');
    const backup = `${v.path}.bak`;
    copyFileSync(v.path, backup);
    await put(v, 'API_KEY', 'new-value');
    copyFileSync(backup, v.path);
    const r = await runInProcess(['get', 'API_KEY'], { env: v.env });
    assert.equal(r.out, '');
    assert.equal(r.status, 7);
    assert.equal(
      r.stderr,
      'vault: error: the vault file was rolled back: it is at state 3 (audit entry #3), but this user last saw state 4 (audit entry #4)\n' +
        'vault: hint: if you restored this file from a backup on purpose, accept it with: vault accept-restore\n',
    );
    const accept = await runInProcess(['accept-restore'], { env: v.env });
    assert.equal(accept.status, 0, accept.stderr);
    assert.equal(accept.stderr, 'accepted the vault at state 3 as current (this user had seen state 4); the audit log records it\n');
    const get = await runInProcess(['get', 'API_KEY'], { env: v.env });
    assert.equal(get.out, 'old-value', get.stderr);
    const audit = await runInProcess(['audit', '--json', '--op', 'accept-restore'], { env: v.env });
    const [entry] = audit.out.trim().split('\n').map((l) => JSON.parse(l) as { op: string; detail: unknown });
    assert.deepEqual(entry, { ...entry!, op: 'accept-restore', detail: { from: { state: 4, audit: 4 }, to: { state: 3, audit: 3 } } });
    assert.equal((await runInProcess(['audit', 'verify'], { env: v.env })).status, 0);
  });
});

test('finding 3: the audit table rolled back with its head rows is refused', async () => {
  await withVault(async (v) => {
    await put(v, 'API_KEY', 'x');
    const backup = `${v.path}.bak`;
    copyFileSync(v.path, backup);
    for (let i = 0; i < 3; i++) assert.equal((await runInProcess(['get', 'API_KEY'], { env: v.env })).status, 0);
    exec(v.path, `ATTACH DATABASE '${backup}' AS old`);
    exec(v.path, `DELETE FROM audit WHERE seq > (SELECT MAX(seq) FROM audit) - 3`);
    for (const key of ['audit_head', 'audit_next_seq']) exec(v.path, `UPDATE meta SET value = (SELECT value FROM meta WHERE key = ?) WHERE key = ?`, [key, key]);
    // (the head rows from the backup)
    const head = query(backup, `SELECT key, value FROM meta WHERE key IN ('audit_head', 'audit_next_seq')`);
    for (const h of head) exec(v.path, 'UPDATE meta SET value = ? WHERE key = ?', [String(h.value), String(h.key)]);
    const r = await runInProcess(['get', 'API_KEY'], { env: v.env });
    assert.equal(r.status, 7, r.stderr);
    assert.equal(r.stderr.split('\n')[0], 'vault: error: the vault file was rolled back: it is at state 3 (audit entry #3), but this user last saw state 3 (audit entry #6)');
  });
});

test('finding 3: the anchor itself is bound to the vault: an edited anchor is refused', async () => {
  await withVault(async (v) => {
    await put(v, 'API_KEY', 'x');
    const { readdirSync } = await import('node:fs');
    const [name] = readdirSync(v.anchors);
    const file = `${v.anchors}/${name!}`;
    const record = JSON.parse(readFileSync(file, 'utf8')) as { state: number };
    writeFileSync(file, JSON.stringify({ ...record, state: 1 }));
    const r = await runInProcess(['get', 'API_KEY'], { env: v.env });
    assert.equal(r.status, 7);
    assert.equal(r.stderr.split('\n')[0], `vault: error: the rollback anchor ${file} does not verify under this vault's key: the vault file was replaced, or the anchor was edited`);
  });
});

test('finding 6: out-of-range KDF parameters and too many slots are refused at once, before any key derivation', async () => {
  await withVault(async (v) => {
    await put(v, 'API_KEY', 'x');
    // replayed against the binary: a planted cost must not make the real process run for minutes
    const pass = { VAULT_PATH: v.path, VAULT_PASSPHRASE: 'correct horse battery staple', XDG_STATE_HOME: v.state };
    for (const params of ['N=1048576,r=8,p=1', 'N=262144,r=32,p=1', 'N=131072,r=8,p=16', 'N=262144,r=16,p=1']) {
      exec(v.path, `UPDATE slots SET kdf_params = ? WHERE kind = 'passphrase'`, [params]);
      const started = Date.now();
      const r = await runVault(['get', 'API_KEY'], { env: pass });
      assert.equal(r.status, 7, `${params}: ${r.stderr}`);
      assert.match(r.stderr, /^vault: error: key slot kdf parameters \(scrypt N=\d+,r=\d+,p=\d+\) are outside the accepted range\n/);
      assert.ok(Date.now() - started < 5000, 'refused before any derivation');
    }
    exec(v.path, `UPDATE slots SET kdf_params = 'N=131072,r=8,p=1' WHERE kind = 'passphrase'`);
    const row = query(v.path, `SELECT * FROM slots WHERE kind = 'passphrase'`)[0]!;
    for (let i = 0; i < 4; i++) {
      exec(v.path, `INSERT INTO slots (id, kind, label, kdf, kdf_params, salt, nonce, wrapped_key, created_at, public_key, key_mac, wrap_format) VALUES (?, 'passphrase', NULL, 'scrypt', 'N=131072,r=8,p=1', ?, ?, ?, 0, ?, ?, 2)`, [
        `0000000${i}`, randomBytes(16), blob(row.nonce), blob(row.wrapped_key), randomBytes(32), randomBytes(32),
      ]);
    }
    const r = await runVault(['get', 'API_KEY'], { env: pass });
    assert.equal(r.status, 7, r.stderr);
    assert.equal(r.stderr.split('\n')[0], 'vault: error: unlocking would take 5.0 times the work of one default key derivation (5 slots), more than the 4 allowed');
  });
});

test('finding 9: an edited vault id is integrity (7), not a wrong key', async () => {
  await withVault(async (v) => {
    await put(v, 'API_KEY', 'x');
    exec(v.path, `UPDATE meta SET value = ? WHERE key = 'vault_id'`, [randomBytes(16).toString('hex')]);
    const sid = String(query(v.path, `SELECT id FROM slots WHERE kind = 'master-key'`)[0]!.id);
    await refused(v, ['get', 'API_KEY'], `key slot ${sid} failed its integrity check: it holds a key that was not sealed by its owner`);
  });
});

test('the state check follows a file changed by another process while a library handle is open', async () => {
  await withVault(async (v) => {
    await put(v, 'API_KEY', 'value-1');
    const vault = await openWithKey(v);
    try {
      const old = query(v.path, `SELECT * FROM secrets WHERE name = 'API_KEY'`)[0]!;
      const other = await runVault(['put', 'API_KEY', '--force'], { env: v.env, input: 'value-2' });
      assert.equal(other.status, 0, other.stderr);
      assert.equal(vault.get({ ns: 'default', name: 'API_KEY' }).value.toString(), 'value-2');
      exec(v.path, 'UPDATE secrets SET current_version = ?, updated_at = ?, mac = ? WHERE name = ?', [Number(old.current_version), Number(old.updated_at), blob(old.mac), 'API_KEY']);
      assert.throws(() => vault.get({ ns: 'default', name: 'API_KEY' }), { code: 'integrity', message: "the vault's secrets or key slots do not match its state record: rows were rolled back, removed, added or edited" });
    } finally {
      vault.close();
    }
  });
});

test('text planted in the file reaches no terminal raw: a slot id with control characters is escaped in the error', async () => {
  await withVault(async (v) => {
    await put(v, 'API_KEY', 'x');
    exec(v.path, `UPDATE slots SET id = ? WHERE kind = 'master-key'`, ['ab\u001b[2Jcd\n']);
    await refused(v, ['get', 'API_KEY'], 'key slot ab\\x1b[2Jcd\\n failed its integrity check: it holds a key that was not sealed by its owner');
  });
});

test('a slot salt cut short is integrity (7), before any key derivation', async () => {
  await withVault(async (v) => {
    await put(v, 'API_KEY', 'x');
    exec(v.path, `UPDATE slots SET salt = substr(salt, 1, 8) WHERE kind = 'master-key'`);
    const sid = String(query(v.path, `SELECT id FROM slots WHERE kind = 'master-key'`)[0]!.id);
    await refused(v, ['get', 'API_KEY'], `key slot ${sid} has a salt shorter than 16 bytes`);
  });
});
