import { SCHEMA_VERSION } from '../../src/store/schema.js';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freshVault, PASSPHRASE, runInProcess, tempDir, type RunResult } from '../helpers/cli.js';
import { exec, snapshot } from '../helpers/sqlite.js';

/** Vault files that are missing, foreign, damaged, too open or too new; unlocking failures. */

const cleanups: Array<() => void> = [];
let v: Awaited<ReturnType<typeof freshVault>>;
before(async () => {
  v = await freshVault();
  cleanups.push(v.cleanup);
  const r = await runInProcess(['put', 'A'], { env: v.env, input: 'alpha' });
  assert.equal(r.status, 0, r.stderr);
});
after(() => cleanups.forEach((c) => c()));

function dir(): string {
  const t = tempDir('vault-files-');
  cleanups.push(t.cleanup);
  return t.dir;
}

function refused(r: RunResult, status: number, stderr: string, what = ''): void {
  assert.equal(r.stderr, stderr, what);
  assert.equal(r.status, status, what);
  assert.equal(r.out, '', what);
}

const LOCKED =
  'vault: error: the vault is locked and no way to unlock it was given\nvault: hint: set VAULT_PASSPHRASE(_FILE) or VAULT_MASTER_KEY(_FILE), enable the OS keychain with vault keychain enable, or run in a terminal to be asked\n';

describe('the vault file', () => {
  test('missing → 6 with a hint, for every command that needs one', async () => {
    const path = join(dir(), 'none', 'vault.db');
    const expected = `vault: error: no vault at ${path}\nvault: hint: create one with: vault init\n`;
    const env = { VAULT_PATH: path, VAULT_PASSPHRASE: PASSPHRASE };
    for (const args of [['list'], ['status'], ['get', 'A'], ['put', 'A'], ['history', 'A'], ['rollback', 'A', '1'], ['rm', 'A', '--yes']]) {
      refused(await runInProcess(args, { env, input: 'x' }), 6, expected, args.join(' '));
    }
  });

  test('not a vault (random bytes, an empty file, another program\'s SQLite database) → 7, the file unchanged', async () => {
    const root = dir();
    const files: Record<string, string> = {
      random: join(root, 'random.db'),
      empty: join(root, 'empty.db'),
      sqlite: join(root, 'app.db'),
      sqliteVersioned: join(root, 'app-v1.db'),
      text: join(root, 'notes.txt'),
    };
    writeFileSync(files.random!, randomBytes(8192), { mode: 0o600 });
    writeFileSync(files.empty!, '', { mode: 0o600 });
    writeFileSync(files.text!, 'SQLite format 2\n'.repeat(20), { mode: 0o600 });
    exec(files.sqlite!, 'CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)');
    exec(files.sqlite!, "INSERT INTO notes (body) VALUES ('remember the milk')");
    // A database that uses user_version for its own migrations, as many apps do.
    exec(files.sqliteVersioned!, 'CREATE TABLE settings (k TEXT PRIMARY KEY, v TEXT)');
    exec(files.sqliteVersioned!, 'PRAGMA user_version = 1');
    chmodSync(files.sqlite!, 0o600);
    chmodSync(files.sqliteVersioned!, 0o600);
    const listing = readdirSync(root).sort();

    for (const [kind, path] of Object.entries(files)) {
      const before = readFileSync(path);
      const expected = `vault: error: ${path} is not a vault file or is damaged\nvault: hint: check the path given with --vault or VAULT_PATH; restore the file from a backup\n`;
      const env = { VAULT_PATH: path, VAULT_PASSPHRASE: PASSPHRASE };
      for (const args of [['list'], ['get', 'A'], ['put', 'A', '--force']]) {
        refused(await runInProcess(args, { env, input: 'x' }), 7, expected, `${kind}: ${args.join(' ')}`);
      }
      assert.deepEqual(readFileSync(path), before, `${kind} unchanged`);
    }
    // No -wal, -shm or -journal left beside them.
    assert.deepEqual(readdirSync(root).sort(), listing);
  });

  test('a truncated vault file → 7', async () => {
    const bytes = readFileSync(v.path);
    const root = dir();
    for (const size of [100, 4096, Math.floor(bytes.length / 2)]) {
      const path = join(root, `cut-${size}.db`);
      writeFileSync(path, bytes, { mode: 0o600 });
      truncateSync(path, size);
      const expected = `vault: error: ${path} is not a vault file or is damaged\nvault: hint: check the path given with --vault or VAULT_PATH; restore the file from a backup\n`;
      refused(await runInProcess(['get', 'A'], { env: { VAULT_PATH: path, VAULT_PASSPHRASE: PASSPHRASE } }), 7, expected, `cut to ${size}`);
      refused(await runInProcess(['list'], { env: { VAULT_PATH: path } }), 7, expected, `cut to ${size}`);
    }
  });

  test('readable by group or others → 1 with the exact chmod hint; --insecure-permissions opens it', async () => {
    const root = dir();
    const path = join(root, "it's here", 'vault.db');
    mkdirSync(join(root, "it's here"), { mode: 0o700 });
    writeFileSync(path, readFileSync(v.path), { mode: 0o600 });
    for (const mode of [0o644, 0o640, 0o604]) {
      chmodSync(path, mode);
      refused(
        await runInProcess(['get', 'A'], { env: { VAULT_PATH: path, VAULT_PASSPHRASE: PASSPHRASE } }),
        1,
        `vault: error: vault file ${path} is readable by other users (mode ${mode.toString(8)})\nvault: hint: fix it with: chmod 600 '${root}/it'\\''s here/vault.db'\n`,
      );
    }
    chmodSync(path, 0o644);
    const r = await runInProcess(['--insecure-permissions', 'get', 'A'], { env: { VAULT_PATH: path, VAULT_PASSPHRASE: PASSPHRASE } });
    assert.equal(r.stderr, '');
    assert.equal(r.status, 0);
    assert.equal(r.out, 'alpha');
    const list = await runInProcess(['list', '--insecure-permissions'], { env: { VAULT_PATH: path } });
    assert.equal(list.status, 0);
    assert.equal(list.out, 'A\n');
  });

  test('a schema newer than this vault → 7, the file never modified', async () => {
    const root = dir();
    const path = join(root, 'vault.db');
    writeFileSync(path, readFileSync(v.path), { mode: 0o600 });
    exec(path, 'PRAGMA user_version = 99');
    const before = readFileSync(path);
    const expected = `vault: error: the vault at ${path} has schema version 99, newer than this vault (${SCHEMA_VERSION})\nvault: hint: upgrade vault to open this file\n`;
    const env = { VAULT_PATH: path, VAULT_PASSPHRASE: PASSPHRASE };
    for (const args of [['list'], ['status'], ['get', 'A'], ['put', 'B']]) {
      refused(await runInProcess(args, { env, input: 'x' }), 7, expected, args.join(' '));
    }
    assert.deepEqual(readFileSync(path), before);
    assert.deepEqual(readdirSync(root), ['vault.db']);
  });

  test('a directory at the vault path → 1', async () => {
    const path = dir();
    refused(await runInProcess(['list'], { env: { VAULT_PATH: path } }), 1, `vault: error: ${path} is not a regular file\n`);
  });
});

describe('unlocking', () => {
  test('a wrong passphrase → 5, one uniform message, nothing changed', async () => {
    const before = snapshot(v.path, { lastUsed: true });
    for (const args of [['get', 'A'], ['put', 'B'], ['rollback', 'A', '1'], ['rm', 'A', '--yes']]) {
      refused(await runInProcess(args, { env: { ...v.passphraseEnv, VAULT_PASSPHRASE: 'not the passphrase' }, input: 'x' }), 5, 'vault: error: wrong passphrase or key\n', args.join(' '));
    }
    assert.equal(snapshot(v.path, { lastUsed: true }), before);
  });

  test('no way to unlock and no TTY → 4 at once, with the hint', async () => {
    const before = snapshot(v.path, { lastUsed: true });
    const env = { VAULT_PATH: v.path };
    for (const args of [['get', 'A'], ['put', 'B'], ['rollback', 'A', '1'], ['rm', 'A', '--yes']]) {
      refused(await runInProcess(args, { env, input: 'x' }), 4, LOCKED, args.join(' '));
    }
    // CI set or --no-input: never hang, and the hint does not suggest a terminal.
    refused(
      await runInProcess(['get', 'A', '--no-input'], { env: { ...env, CI: 'true' } }),
      4,
      'vault: error: the vault is locked and no way to unlock it was given\nvault: hint: set VAULT_PASSPHRASE(_FILE) or VAULT_MASTER_KEY(_FILE), or enable the OS keychain with vault keychain enable\n',
    );
    assert.equal(snapshot(v.path, { lastUsed: true }), before);
  });

  test('VAULT_PASSPHRASE_FILE: unlocks (trailing newline dropped); a missing file → 2; VAULT_PASSPHRASE wins over it', async () => {
    const root = dir();
    const file = join(root, 'pass');
    writeFileSync(file, `${PASSPHRASE}\r\n`, { mode: 0o600 });
    const ok = await runInProcess(['get', 'A'], { env: { VAULT_PATH: v.path, VAULT_PASSPHRASE_FILE: file } });
    assert.equal(ok.stderr, '');
    assert.equal(ok.status, 0);
    assert.equal(ok.out, 'alpha');

    const wrong = join(root, 'wrong');
    writeFileSync(wrong, 'wrong passphrase\n', { mode: 0o600 });
    refused(await runInProcess(['get', 'A'], { env: { VAULT_PATH: v.path, VAULT_PASSPHRASE_FILE: wrong } }), 5, 'vault: error: wrong passphrase or key\n');
    const both = await runInProcess(['get', 'A'], { env: { VAULT_PATH: v.path, VAULT_PASSPHRASE: PASSPHRASE, VAULT_PASSPHRASE_FILE: wrong } });
    assert.equal(both.status, 0, both.stderr);
    assert.equal(both.out, 'alpha');

    const missing = join(root, 'missing');
    refused(await runInProcess(['get', 'A'], { env: { VAULT_PATH: v.path, VAULT_PASSPHRASE_FILE: missing } }), 2, `vault: error: cannot read VAULT_PASSPHRASE_FILE ${missing}: no such file\n`);
  });
});
