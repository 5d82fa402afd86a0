import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freshVault, runInProcess } from '../helpers/cli.js';
import { blob, holdOpen, query } from '../helpers/sqlite.js';

/**
 * No value may reach the disk in plaintext: not in vault.db, not in its WAL (kept alive by a
 * second process holding the database open, so SQLite does not checkpoint it away), in raw,
 * hex or base64 form. And `rm --purge` leaves no trace of the old ciphertexts in the file.
 */

let v: Awaited<ReturnType<typeof freshVault>>;
before(async () => {
  v = await freshVault();
});
after(() => v?.cleanup());

/** The raw, hex and base64 spellings of a value that a careless store might write. */
function spellings(value: Buffer): Array<[string, Buffer]> {
  // For long values a leading window stands for the whole (48 bytes is whole base64 groups).
  const head = value.length > 64 ? value.subarray(0, 48) : value;
  return [
    ['raw', head],
    ['hex', Buffer.from(head.toString('hex'))],
    ['HEX', Buffer.from(head.toString('hex').toUpperCase())],
    ['base64', Buffer.from(value.length > 64 ? head.toString('base64') : value.toString('base64').replace(/=+$/, ''))],
    ['base64url', Buffer.from(value.length > 64 ? head.toString('base64url') : value.toString('base64url'))],
  ];
}

function assertAbsent(file: string, bytes: Buffer, values: Record<string, Buffer>): void {
  for (const [name, value] of Object.entries(values)) {
    for (const [form, needle] of spellings(value)) {
      assert.equal(bytes.indexOf(needle), -1, `${name} found in ${file} as ${form}`);
    }
  }
}

async function put(name: string, value: Buffer, force = false): Promise<void> {
  const file = join(v.dir, `${name}.value`);
  writeFileSync(file, value);
  const r = await runInProcess(['put', name, '--from-file', file, ...(force ? ['--force'] : [])], { env: v.env });
  assert.equal(r.status, 0, r.stderr);
  writeFileSync(file, '');
}

test('values never appear in vault.db or vault.db-wal, in any common encoding', async () => {
  const values: Record<string, Buffer> = {
    ascii: Buffer.from('CANARY-alpha-7f3a9c1e-do-not-store-me'),
    older: Buffer.from('CANARY-older-version-51d2e0aa'),
    newer: Buffer.from('CANARY-newer-version-0c9b7f33'),
    unicode: Buffer.from('пароль-канарейка-42-🔑'),
    binary: Buffer.concat([Buffer.from([0x00, 0xff, 0xfe]), Buffer.from('CANARY-binary-3e8a'), Buffer.from([0x00, 0x01])]),
    large: Buffer.from('BIGVALUE-CANARY-9c8b7a-'.repeat(40_000)),
  };
  const holder = await holdOpen(v.path);
  let db: Buffer;
  let wal: Buffer;
  try {
    await put('ASCII', values.ascii!);
    await put('ROTATED', values.older!);
    await put('ROTATED', values.newer!, true);
    await put('UNICODE', values.unicode!);
    await put('BINARY', values.binary!);
    await put('LARGE', values.large!);
    for (const [name, value] of [['ASCII', values.ascii!], ['LARGE', values.large!], ['BINARY', values.binary!]] as const) {
      const r = await runInProcess(['get', name], { env: v.env });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(r.stdout, value);
    }
    assert.equal(existsSync(`${v.path}-wal`), true, 'the WAL is still there while another process holds the database');
    db = readFileSync(v.path);
    wal = readFileSync(`${v.path}-wal`);
  } finally {
    await holder.release();
  }
  assert.ok(wal.length > values.large!.length, `the WAL holds the writes (${wal.length} bytes)`);
  // The ciphertexts are there: the search looks at the right bytes.
  const [row] = query(v.path, `SELECT ciphertext FROM versions WHERE secret_id = (SELECT id FROM secrets WHERE name = 'ASCII')`);
  assert.notEqual(Buffer.concat([db, wal]).indexOf(blob(row!.ciphertext)), -1, 'the ASCII ciphertext is in the db or WAL');

  assertAbsent('vault.db', db, values);
  assertAbsent('vault.db-wal', wal, values);
  // And after the last process has checkpointed the WAL into the file.
  assertAbsent('vault.db (checkpointed)', readFileSync(v.path), values);
});

test('rm --purge leaves none of the old ciphertext or nonce bytes in the file (secure_delete)', async () => {
  const big = randomBytes(200_000);
  await put('DOOMED', Buffer.from('doomed-one'));
  await put('DOOMED', Buffer.from('doomed-two'), true);
  await put('DOOMED', big, true);
  await put('KEPT', Buffer.from('kept-value'));
  const rows = query(v.path, `SELECT version, nonce, ciphertext FROM versions WHERE secret_id = (SELECT id FROM secrets WHERE name = 'DOOMED') ORDER BY version`);
  assert.equal(rows.length, 3);
  // A large ciphertext spans overflow pages, so it is searched as 32-byte windows (most lie
  // within one page); every window must be gone after the purge.
  const pieces = rows.flatMap((r) => {
    const c = blob(r.ciphertext);
    const v = r.version as number;
    const out: Array<[string, Buffer]> = [[`v${v} nonce`, blob(r.nonce)], [`v${v} tag`, c.subarray(c.length - 16)]];
    for (let at = 0; at < c.length - 16; at += 1000) out.push([`v${v} ciphertext at ${at}`, c.subarray(at, at + 32)]);
    return out;
  });
  const before = readFileSync(v.path);
  assert.equal(existsSync(`${v.path}-wal`), false);
  const found = pieces.filter(([, bytes]) => before.indexOf(bytes) !== -1).map(([what]) => what);
  // The search looks at the right bytes: each version's nonce, tag and head, and nearly every window, are there.
  for (const version of [1, 2, 3]) {
    for (const what of [`v${version} nonce`, `v${version} tag`, `v${version} ciphertext at 0`]) assert.ok(found.includes(what), `${what} is in the file before the purge`);
  }
  assert.ok(found.length >= pieces.length * 0.9, `${found.length} of ${pieces.length} pieces found before the purge`);

  // Purge while another process holds the file open: no checkpoint at close then, so vault
  // must checkpoint itself or vault.db keeps the old pages.
  const holder = await holdOpen(v.path);
  try {
    const r = await runInProcess(['rm', 'DOOMED', '--purge', '--yes'], { env: v.env });
    assert.equal(r.stderr, 'destroyed default/DOOMED (3 versions)\n');
    assert.equal(r.status, 0);
    const db = readFileSync(v.path);
    const wal = existsSync(`${v.path}-wal`) ? readFileSync(`${v.path}-wal`) : Buffer.alloc(0);
    for (const [what, bytes] of pieces) {
      assert.equal(db.indexOf(bytes), -1, `${what} is still in vault.db after the purge`);
      assert.equal(wal.indexOf(bytes), -1, `${what} is still in vault.db-wal after the purge`);
    }
  } finally {
    await holder.release();
  }
  assert.equal(existsSync(`${v.path}-wal`), false, 'the last connection removed the WAL');
  const afterPurge = readFileSync(v.path);
  for (const [what, bytes] of pieces) assert.equal(afterPurge.indexOf(bytes), -1, `${what} is in the file once every process has closed it`);

  const kept = await runInProcess(['get', 'KEPT'], { env: v.env });
  assert.equal(kept.out, 'kept-value');
});
