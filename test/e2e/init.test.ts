import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { PASSPHRASE, runInProcess, runVault, tempDir } from '../helpers/cli.js';
import { holdOpen, query } from '../helpers/sqlite.js';

const cleanups: Array<() => void> = [];
after(() => cleanups.forEach((c) => c()));

function dir(): string {
  const t = tempDir('vault-init-');
  cleanups.push(t.cleanup);
  return t.dir;
}

const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8);

interface StatusJson {
  slots: Array<{ id: string; kind: string; label: string | null; kdf: string; kdfParams: string }>;
  [key: string]: unknown;
}

test('init (scrypt by default): directories 0700, file 0600, one passphrase slot; then put/get work', async () => {
  const root = dir();
  const path = join(root, 'a', 'b', 'vault.db');
  const env = { VAULT_PASSPHRASE: PASSPHRASE };
  const r = await runVault(['init', '--vault', path], { env });
  assert.equal(r.stderr, `created vault ${path}\n`);
  assert.equal(r.status, 0);
  assert.equal(r.out, '');
  assert.equal(mode(join(root, 'a')), '700');
  assert.equal(mode(join(root, 'a', 'b')), '700');
  assert.equal(mode(path), '600');

  const st = await runVault(['status', '--json', '--vault', path]);
  assert.equal(st.status, 0, st.stderr);
  const json = JSON.parse(st.out) as StatusJson;
  assert.equal(json.slots.length, 1);
  const [slot] = json.slots;
  assert.deepEqual({ kind: slot!.kind, label: slot!.label, kdf: slot!.kdf, kdfParams: slot!.kdfParams }, {
    kind: 'passphrase',
    label: null,
    kdf: 'scrypt',
    kdfParams: 'N=131072,r=8,p=1',
  });
  assert.match(slot!.id, /^[0-9a-f]{8}$/);
  // The salt is random and at least 16 bytes.
  const [row] = query(path, 'SELECT length(salt) AS n FROM slots');
  assert.equal(row!.n, 16);

  // -wal and -shm, kept alive by a second process holding the file open, are 0600 too.
  const holder = await holdOpen(path);
  try {
    const put = await runVault(['put', 'K', '--vault', path], { env, input: 'v' });
    assert.equal(put.status, 0, put.stderr);
    assert.equal(existsSync(`${path}-wal`), true);
    assert.equal(existsSync(`${path}-shm`), true);
    assert.equal(mode(`${path}-wal`), '600');
    assert.equal(mode(`${path}-shm`), '600');
  } finally {
    await holder.release();
  }
});

test('init --kdf pbkdf2 --json: the slot uses PBKDF2-HMAC-SHA256 at 600,000 iterations and unlocks', async () => {
  const path = join(dir(), 'vault.db');
  const env = { VAULT_PATH: path, VAULT_PASSPHRASE: PASSPHRASE };
  const r = await runVault(['init', '--kdf', 'pbkdf2', '--json'], { env });
  assert.equal(r.stderr, '');
  assert.equal(r.status, 0);
  const out = JSON.parse(r.out) as { path: string; vaultId: string; kdf: string };
  assert.match(out.vaultId, /^[0-9a-f]{32}$/);
  assert.equal(r.out, `${JSON.stringify({ path, vaultId: out.vaultId, kdf: 'pbkdf2-sha256', keychain: false })}\n`);

  const st = await runVault(['status', '--json'], { env: { VAULT_PATH: path } });
  const slot = (JSON.parse(st.out) as StatusJson).slots[0]!;
  assert.deepEqual([slot.kind, slot.kdf, slot.kdfParams], ['passphrase', 'pbkdf2-sha256', 'iterations=600000']);

  const put = await runVault(['put', 'P'], { env, input: 'pbkdf2-value\n' });
  assert.equal(put.status, 0, put.stderr);
  const get = await runVault(['get', 'P'], { env });
  assert.equal(get.status, 0, get.stderr);
  assert.equal(get.out, 'pbkdf2-value');
});

// The binary's own defaults are pinned above; the refusals and the passphrase file below run
// in-process (their vaults at TEST_KDF).
test('init --kdf with another value → 2', async () => {
  const path = join(dir(), 'vault.db');
  const r = await runInProcess(['init', '--kdf', 'argon2'], { env: { VAULT_PATH: path, VAULT_PASSPHRASE: PASSPHRASE } });
  assert.equal(r.stderr, "vault: error: option '--kdf <kdf>' argument 'argon2' is invalid; allowed choices are scrypt, pbkdf2\nvault: hint: vault --help lists the commands and flags\n");
  assert.equal(r.status, 2);
  assert.equal(existsSync(path), false);
});

test('init of an existing file → 8, the file unchanged, even before a passphrase is asked for', async () => {
  const path = join(dir(), 'vault.db');
  const env = { VAULT_PATH: path, VAULT_PASSPHRASE: PASSPHRASE };
  assert.equal((await runInProcess(['init'], { env })).status, 0);
  const before = readFileSync(path);
  const expected = `vault: error: a vault already exists at ${path}\nvault: hint: use it, or choose another path with --vault\n`;
  for (const e of [env, { VAULT_PATH: path }, { VAULT_PATH: path, VAULT_PASSPHRASE: 'another passphrase' }]) {
    const r = await runInProcess(['init'], { env: e });
    assert.equal(r.stderr, expected);
    assert.equal(r.status, 8);
    assert.equal(r.out, '');
  }
  assert.deepEqual(readFileSync(path), before);
  // The original passphrase still opens it.
  const list = await runInProcess(['list'], { env });
  assert.equal(list.status, 0, list.stderr);

  // Any file at the path counts, vault or not.
  const other = join(dir(), 'notes.txt');
  writeFileSync(other, 'my notes\n', { mode: 0o600 });
  const r = await runInProcess(['init', '--vault', other], { env: { VAULT_PASSPHRASE: PASSPHRASE } });
  assert.equal(r.stderr, `vault: error: a vault already exists at ${other}\nvault: hint: use it, or choose another path with --vault\n`);
  assert.equal(r.status, 8);
  assert.equal(readFileSync(other, 'utf8'), 'my notes\n');
});

test('init with no passphrase and no TTY → 2, nothing created; an empty passphrase → 2', async () => {
  const root = dir();
  const path = join(root, 'sub', 'vault.db');
  const r = await runInProcess(['init'], { env: { VAULT_PATH: path } });
  assert.equal(r.stderr, 'vault: error: no passphrase for the new vault\nvault: hint: set VAULT_PASSPHRASE or VAULT_PASSPHRASE_FILE, or run vault init in a terminal\n');
  assert.equal(r.status, 2);
  assert.equal(r.out, '');
  assert.equal(existsSync(join(root, 'sub')), false);

  const empty = await runInProcess(['init'], { env: { VAULT_PATH: path, VAULT_PASSPHRASE: '' } });
  assert.equal(empty.stderr, 'vault: error: the passphrase is empty\n');
  assert.equal(empty.status, 2);
  assert.equal(existsSync(path), false);
});

test('init from VAULT_PASSPHRASE_FILE (one trailing newline dropped) unlocks with the same VAULT_PASSPHRASE', async () => {
  const root = dir();
  const path = join(root, 'vault.db');
  const file = join(root, 'pass.txt');
  writeFileSync(file, `${PASSPHRASE}\n`, { mode: 0o600 });
  const r = await runInProcess(['init'], { env: { VAULT_PATH: path, VAULT_PASSPHRASE_FILE: file } });
  assert.equal(r.stderr, `created vault ${path}\n`);
  assert.equal(r.status, 0);
  const put = await runInProcess(['put', 'F'], { env: { VAULT_PATH: path, VAULT_PASSPHRASE: PASSPHRASE }, input: 'from-file-pass' });
  assert.equal(put.stderr, 'stored default/F version 1\n');
  assert.equal(put.status, 0);
});
