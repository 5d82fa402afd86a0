import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { stateDigest } from '../../src/core/integrity.js';
import { encodeAad } from '../../src/crypto/aead.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { secretDigestRows, secretMacs } from '../../src/store/secrets.js';
import { tempDir } from '../helpers/cli.js';

/** One `row` field list of the state digest, written out byte by byte. */
function rowBytes(kind: string, id: string, mac: Buffer): Buffer {
  const u32 = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  return Buffer.concat([u32(3), Buffer.from('row'), u32(kind.length), Buffer.from(kind), u32(id.length), Buffer.from(id), u32(mac.length), mac]);
}

const slots = [{ id: 'a1b2c3d4', key_mac: Buffer.alloc(32, 7) }];
const grants = [{ id: 3, mac: Buffer.alloc(32, 9) }];

test('the state digest is SHA-256 over the label and each row as written out; SQLite-encoded secret rows give the same digest as their MACs', () => {
  const dir = tempDir();
  const store = SqliteStore.create(join(dir.dir, 'vault.db'));
  try {
    const insert = store.db.prepare('INSERT INTO secrets (id, ns, name, current_version, created_at, updated_at, mac) VALUES (?, ?, ?, 1, 0, 0, ?)');
    // Ids of every decimal width, a NULL and a short MAC, and more rows than one piece (1,024)
    // holds, so that pieces join at several places.
    const ids = [1, 2, 9, 10, 99, 100, 12345, 4_294_967_296, 2 ** 53 - 1];
    for (let i = 0; i < 2500; i++) ids.push(200_000 + i * 3);
    const mac = (id: number): Buffer | null => (id === 9 ? null : id === 10 ? Buffer.from('ab', 'hex') : createHash('sha256').update(String(id)).digest());
    for (const id of ids) insert.run(id, 'ns', `N${id}`, mac(id));

    const pieces = [...secretDigestRows(store.db)];
    assert.equal(pieces.length, Math.ceil(ids.length / 1024));
    const sorted = [...ids].sort((a, b) => a - b);
    assert.deepEqual(Buffer.concat(pieces), Buffer.concat(sorted.map((id) => rowBytes('secret', String(id), mac(id) ?? Buffer.alloc(0)))));

    const expected = createHash('sha256')
      .update(Buffer.concat([Buffer.from([0, 0, 0, 21]), Buffer.from('vault/state-digest/v1')]))
      .update(rowBytes('slot', 'a1b2c3d4', Buffer.alloc(32, 7)))
      .update(Buffer.concat(sorted.map((id) => rowBytes('secret', String(id), mac(id) ?? Buffer.alloc(0)))))
      .update(rowBytes('grant', '3', Buffer.alloc(32, 9)))
      .digest();
    assert.deepEqual(stateDigest(slots, secretMacs(store.db), grants), expected);
    assert.deepEqual(stateDigest(slots, { encoded: secretDigestRows(store.db) }, grants), expected);
    assert.deepEqual(encodeAad('row', ['secret', 10, Buffer.from('ab', 'hex')]), rowBytes('secret', '10', Buffer.from('ab', 'hex')));
  } finally {
    store.close();
    dir.cleanup();
  }
});

test('no secrets: no pieces, and the digest of slots and grants alone', () => {
  const dir = tempDir();
  const store = SqliteStore.create(join(dir.dir, 'vault.db'));
  try {
    assert.deepEqual([...secretDigestRows(store.db)], []);
    assert.deepEqual(stateDigest(slots, { encoded: secretDigestRows(store.db) }, grants), stateDigest(slots, [], grants));
    assert.equal(
      stateDigest([], { encoded: [] }).toString('hex'),
      createHash('sha256').update(Buffer.concat([Buffer.from([0, 0, 0, 21]), Buffer.from('vault/state-digest/v1')])).digest('hex'),
    );
  } finally {
    store.close();
    dir.cleanup();
  }
});
