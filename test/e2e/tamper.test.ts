import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freshVault, passphraseVault, runInProcess, tempDir } from '../helpers/cli.js';
import { blob, exec, flipByte, query, snapshot } from '../helpers/sqlite.js';

/**
 * Edits a real vault file behind vault's back (python3's sqlite3) and checks that every
 * change to a ciphertext, its binding or a key slot is refused with the documented exit code
 * and message, and that the refusal leaves the secrets, versions and slots as they were.
 */

const TAMPERED_HINT = 'vault: hint: the vault file may have been tampered with; restore it from a backup\n';
const tampered = (ref: string, version: number): string => `vault: error: secret ${ref} version ${version} failed its integrity check\n${TAMPERED_HINT}`;
const WRONG_KEY = 'vault: error: wrong passphrase or key\n';

const VERSION_ROW = `secret_id = (SELECT id FROM secrets WHERE ns = ? AND name = ?) AND version = ?`;

/** Unlocked by its master key, for the tests of the secrets' bytes. */
let base: Awaited<ReturnType<typeof freshVault>>;
/** A vault as `vault init` makes it, unlocked by its passphrase, for the tests of the key slot. */
let slotBase: Awaited<ReturnType<typeof passphraseVault>>;
const dirs: Array<() => void> = [];

/** A private copy of a base vault: default/A v1 "alpha-one", v2 "alpha-two"; default/B v1 "bravo-one". */
function copy(from: typeof base | typeof slotBase = base): { path: string; env: Record<string, string> } {
  const { dir, cleanup } = tempDir('vault-tamper-');
  dirs.push(cleanup);
  mkdirSync(join(dir, 'v'), { mode: 0o700 });
  const path = join(dir, 'v', 'vault.db');
  copyFileSync(from.path, path);
  return { path, env: { ...from.env, VAULT_PATH: path } };
}

before(async () => {
  base = await freshVault();
  slotBase = await passphraseVault({ cheap: true });
  for (const [v, args, input] of [base, slotBase].flatMap((v) => [

    [v, ['put', 'A'], 'alpha-one'],
    [v, ['put', 'A', '--force'], 'alpha-two'],
    [v, ['put', 'B'], 'bravo-one'],
  ] as const)) {
    const r = await runInProcess([...args], { env: v.env, input });
    assert.equal(r.status, 0, r.stderr);
  }
  // Every run has closed the file, so it is whole on its own (no -wal to copy).
  assert.equal(existsSync(`${base.path}-wal`), false);
  assert.equal(existsSync(`${slotBase.path}-wal`), false);
});

after(() => {
  base?.cleanup();
  slotBase?.cleanup();
  for (const cleanup of dirs) cleanup();
});

/** Runs `vault ARGS`, expecting a refusal; checks exit, stdout, stderr and that nothing but audit rows changed. */
async function refused(v: { path: string; env: Record<string, string> }, args: string[], status: number, stderr: string): Promise<void> {
  // A refused unlock touches nothing; a refused read after a good unlock may stamp the slot's last use.
  const lastUsed = status === 5;
  const before = snapshot(v.path, { lastUsed });
  const r = await runInProcess(args, { env: v.env });
  assert.equal(r.stderr, stderr, `vault ${args.join(' ')}`);
  assert.equal(r.status, status);
  assert.equal(r.out, '');
  assert.equal(snapshot(v.path, { lastUsed }), before, 'secrets, versions and slots unchanged');
}

describe('a secret\'s stored bytes', () => {
  test('a flipped byte in the ciphertext → 7, and the other versions still read', async () => {
    const v = copy();
    flipByte(v.path, 'versions', 'ciphertext', VERSION_ROW, ['default', 'A', 2], 0);
    await refused(v, ['get', 'A'], 7, tampered('default/A', 2));
    await refused(v, ['rollback', 'A', '2'], 7, tampered('default/A', 2));
    const ok = await runInProcess(['get', 'A', '--version', '1'], { env: v.env });
    assert.equal(ok.stderr, '');
    assert.equal(ok.status, 0);
    assert.equal(ok.out, 'alpha-one');
  });

  test('a flipped byte in the nonce → 7', async () => {
    const v = copy();
    flipByte(v.path, 'versions', 'nonce', VERSION_ROW, ['default', 'B', 1], 11);
    await refused(v, ['get', 'B'], 7, tampered('default/B', 1));
  });

  test('a flipped byte in the tag (last 16 bytes of the ciphertext) → 7', async () => {
    const v = copy();
    flipByte(v.path, 'versions', 'ciphertext', VERSION_ROW, ['default', 'A', 2], -1);
    await refused(v, ['get', 'A'], 7, tampered('default/A', 2));
    const w = copy();
    flipByte(w.path, 'versions', 'ciphertext', VERSION_ROW, ['default', 'A', 2], -16);
    await refused(w, ['get', 'A'], 7, tampered('default/A', 2));
  });

  test('nonce+ciphertext swapped between two secrets of the same version → both refuse with 7', async () => {
    const v = copy();
    const [a] = query(v.path, `SELECT nonce, ciphertext FROM versions WHERE ${VERSION_ROW}`, ['default', 'A', 1]);
    const [b] = query(v.path, `SELECT nonce, ciphertext FROM versions WHERE ${VERSION_ROW}`, ['default', 'B', 1]);
    exec(v.path, `UPDATE versions SET nonce = ?, ciphertext = ? WHERE ${VERSION_ROW}`, [blob(b!.nonce), blob(b!.ciphertext), 'default', 'A', 1]);
    exec(v.path, `UPDATE versions SET nonce = ?, ciphertext = ? WHERE ${VERSION_ROW}`, [blob(a!.nonce), blob(a!.ciphertext), 'default', 'B', 1]);
    await refused(v, ['get', 'A', '--version', '1'], 7, tampered('default/A', 1));
    await refused(v, ['get', 'B'], 7, tampered('default/B', 1));
  });

  test('a ciphertext moved to another version row of the same secret → 7', async () => {
    const v = copy();
    const [one] = query(v.path, `SELECT nonce, ciphertext FROM versions WHERE ${VERSION_ROW}`, ['default', 'A', 1]);
    exec(v.path, `UPDATE versions SET nonce = ?, ciphertext = ? WHERE ${VERSION_ROW}`, [blob(one!.nonce), blob(one!.ciphertext), 'default', 'A', 2]);
    await refused(v, ['get', 'A'], 7, tampered('default/A', 2));
  });

  test('a secret renamed, or moved to another namespace, in the secrets table → 7', async () => {
    const v = copy();
    exec(v.path, `UPDATE secrets SET name = 'C' WHERE name = 'B'`);
    exec(v.path, `UPDATE secrets SET ns = 'other' WHERE name = 'A'`);
    // the row's MAC binds its namespace and name (and the ciphertexts bind the row's uid)
    await refused(v, ['get', 'C'], 7, `vault: error: secret default/C failed its integrity check: its record was edited or rolled back\n${TAMPERED_HINT}`);
    await refused(v, ['get', 'other/A'], 7, `vault: error: secret other/A failed its integrity check: its record was edited or rolled back\n${TAMPERED_HINT}`);
  });
});

describe('a key slot', () => {
  // The passphrase still derives the slot's own key pair, so a wrap that no longer opens was
  // changed by someone else: tampering (7), not a wrong passphrase. The salt feeds the KDF:
  // changing it is indistinguishable from a wrong passphrase (5).
  for (const column of ['wrapped_key', 'nonce'] as const) {
    test(`a flipped byte in the slot's ${column} → 7, a key not sealed by its owner`, async () => {
      const v = copy(slotBase);
      flipByte(v.path, 'slots', column, `kind = 'passphrase'`, [], 3);
      const [slot] = query(v.path, `SELECT id FROM slots WHERE kind = 'passphrase'`);
      await refused(v, ['get', 'A'], 7, `vault: error: key slot ${slot!.id as string} failed its integrity check: it holds a key that was not sealed by its owner\n${TAMPERED_HINT}`);
    });
  }
  test(`a flipped byte in the slot's salt → 5, wrong passphrase or key`, async () => {
    const v = copy(slotBase);
    flipByte(v.path, 'slots', 'salt', `kind = 'passphrase'`, [], 3);
    await refused(v, ['get', 'A'], 5, WRONG_KEY);
  });

  test('kdf_params edited within the bounds → 5; below the floor → 7 before any KDF runs', async () => {
    const v = copy(slotBase);
    exec(v.path, `UPDATE slots SET kdf_params = 'N=65536,r=8,p=1' WHERE kind = 'passphrase'`);
    await refused(v, ['get', 'A'], 5, WRONG_KEY);
    exec(v.path, `UPDATE slots SET kdf = 'pbkdf2-sha256', kdf_params = 'iterations=600000' WHERE kind = 'passphrase'`);
    await refused(v, ['get', 'A'], 5, WRONG_KEY);
    exec(v.path, `UPDATE slots SET kdf = 'scrypt', kdf_params = 'N=8192,r=8,p=1' WHERE kind = 'passphrase'`);
    await refused(v, ['get', 'A'], 7, `vault: error: key slot kdf parameters (scrypt N=8192,r=8,p=1) are outside the accepted range\n${TAMPERED_HINT}`);
    exec(v.path, `UPDATE slots SET kdf = 'pbkdf2-sha256', kdf_params = 'iterations=1000' WHERE kind = 'passphrase'`);
    await refused(v, ['get', 'A'], 7, `vault: error: key slot kdf parameters (pbkdf2-sha256 iterations=1000) are outside the accepted range\n${TAMPERED_HINT}`);
  });

  test('kdf_params rewritten in another order (same values) → 7 non-canonical', async () => {
    const v = copy(slotBase);
    const [slot] = query(v.path, `SELECT id FROM slots WHERE kind = 'passphrase'`);
    exec(v.path, `UPDATE slots SET kdf_params = 'r=8,N=131072,p=1' WHERE kind = 'passphrase'`);
    await refused(v, ['get', 'A'], 7, `vault: error: key slot ${slot!.id as string} has non-canonical kdf parameters\n`);
  });

  test('an unknown kdf name → 7', async () => {
    const v = copy(slotBase);
    exec(v.path, `UPDATE slots SET kdf = 'argon2id' WHERE kind = 'passphrase'`);
    await refused(v, ['get', 'A'], 7, 'vault: error: key slot uses an unknown kdf "argon2id"\n');
  });
});
