import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BIN, freshVault, PASSPHRASE, ROOT, runCommand, runInProcess, runVault, tempDir, type RunResult } from '../helpers/cli.js';
import { exec, query } from '../helpers/sqlite.js';
import { SCHEMA_VERSION } from '../../src/store/schema.js';

/**
 * Attacks on the vault's directory and the files beside the vault, replayed against real
 * files with the built CLI: a directory others can write or another user owns, -wal/-shm
 * planted by someone else, symbolic links, a file swapped between vault's checks and SQLite's
 * open, and a lowered PRAGMA user_version. Runs as root in CI; "another user" is uid 65534,
 * which root can chown to.
 */

const OTHER = 65534;
const ME = userInfo().username;
// Giving a file to another user (uid 65534) needs root, as in CI.
const NOT_ROOT = process.getuid!() === 0 ? false : 'needs root to chown to another user';
// Running as root, the hint first says to run as the owner; as another user it is the plain fix.
const TAKE_OVER = process.getuid!() === 0 ? `run vault as its owner (uid ${OTHER}), or take it over with: ` : 'fix it with: ';
const q = (p: string): string => `'${p.replace(/'/g, `'\\''`)}'`;
const SWAP_HOOK = join(ROOT, 'test', 'fixtures', 'swap-before-open.cjs');
const TAMPERED_HINT = 'vault: hint: the vault file may have been tampered with; restore it from a backup\n';

const cleanups: Array<() => void> = [];
let base: Awaited<ReturnType<typeof freshVault>>;
before(async () => {
  base = await freshVault();
  cleanups.push(base.cleanup);
  const r = await runInProcess(['put', 'A'], { env: base.env, input: 'alpha' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(existsSync(`${base.path}-wal`), false);
});
after(() => cleanups.forEach((c) => c()));

/** A private copy of the base vault at ROOT/NAME/vault.db, the directory 0700. */
function copy(name = 'v'): { root: string; dir: string; path: string; env: Record<string, string> } {
  const t = tempDir('vault-perm-');
  cleanups.push(t.cleanup);
  const dir = join(t.dir, name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, 'vault.db');
  copyFileSync(base.path, path);
  chmodSync(path, 0o600);
  // the master key: no KDF per command (a passphrase unlock of the copy's cheap slot would
  // first re-wrap it at the default cost, then pay that cost at every later unlock)
  return { root: t.dir, dir, path, env: { VAULT_PATH: path, VAULT_MASTER_KEY: base.masterKey } };
}

/** The gid of this user's private group, if it has one (root:x:0: and no other user in group 0, in CI). */
function privateGroup(): number | undefined {
  const rows = (file: string): string[][] => readFileSync(file, 'utf8').split('\n').map((l) => l.split(':'));
  const group = rows('/etc/group').find((f) => f[0] === ME);
  if (group === undefined || !(group[3] ?? '').split(',').every((m) => m === '' || m === ME)) return undefined;
  const gid = Number(group[2]);
  return rows('/etc/passwd').every((f) => f[0] === ME || f.length < 4 || Number(f[3]) !== gid) ? gid : undefined;
}

function refused(r: RunResult, status: number, stderr: string, what = ''): void {
  assert.equal(r.stderr, stderr, what);
  assert.equal(r.status, status, what);
  assert.equal(r.out, '', what);
}

async function reads(env: Record<string, string>, extra: string[] = []): Promise<void> {
  const r = await runInProcess([...extra, 'get', 'A'], { env });
  assert.equal(r.stderr, '');
  assert.equal(r.status, 0);
  assert.equal(r.out, 'alpha');
}

describe('the vault directory', () => {
  test('writable by group or others → 1 with the exact chmod 700; --insecure-permissions opens it', async () => {
    const v = copy("it's mine");
    for (const mode of [0o770, 0o777, 0o720, 0o702, 0o1777]) {
      chmodSync(v.dir, mode);
      const expected = `vault: error: vault directory ${v.dir} is writable by other users (mode ${mode.toString(8)})\nvault: hint: fix it with: chmod 700 '${v.root}/it'\\''s mine'\n`;
      for (const args of [['get', 'A'], ['list'], ['status']]) {
        refused(await runInProcess(args, { env: v.env }), 1, expected, `${mode.toString(8)} ${args.join(' ')}`);
      }
    }
    await reads(v.env, ['--insecure-permissions']);
    chmodSync(v.dir, 0o700);
    await reads(v.env);
  });

  test('owned by another user → 1 with the chown (and the chmod when it is also open), for root too', { skip: NOT_ROOT }, async () => {
    const v = copy();
    chownSync(v.dir, OTHER, OTHER);
    refused(
      await runInProcess(['get', 'A'], { env: v.env }),
      1,
      `vault: error: vault directory ${v.dir} is owned by another user (uid ${OTHER})\nvault: hint: ${TAKE_OVER}chown ${ME} ${q(v.dir)}\n`,
    );
    chmodSync(v.dir, 0o770);
    refused(
      await runInProcess(['list'], { env: v.env }),
      1,
      `vault: error: vault directory ${v.dir} is owned by another user (uid ${OTHER})\nvault: hint: ${TAKE_OVER}chown ${ME} ${q(v.dir)} && chmod 700 ${q(v.dir)}\n`,
    );
    await reads(v.env, ['--insecure-permissions']);
  });

  test('a directory above it: writable without the sticky bit or owned by another user → 1; sticky and world-writable (like /tmp) is fine', { skip: NOT_ROOT }, async () => {
    const v = copy('shared/vault');
    const shared = join(v.root, 'shared');
    chmodSync(shared, 0o777);
    refused(
      await runInProcess(['get', 'A'], { env: v.env }),
      1,
      `vault: error: directory ${shared} above the vault is writable by other users (mode 777)\nvault: hint: fix it with: chmod go-w ${q(shared)}\n`,
    );
    chmodSync(shared, 0o1777);
    await reads(v.env);
    // Group-writable by another group → refused; by the user's private group (umask 002
    // systems: /etc/group has a group of the user's name and no other member) → fine.
    chmodSync(shared, 0o775);
    chownSync(shared, process.getuid!(), OTHER);
    refused(
      await runInProcess(['get', 'A'], { env: v.env }),
      1,
      `vault: error: directory ${shared} above the vault is writable by other users (mode 775)\nvault: hint: fix it with: chmod go-w ${q(shared)}\n`,
    );
    if (privateGroup() !== undefined) {
      chownSync(shared, process.getuid!(), privateGroup()!);
      await reads(v.env);
    }
    chmodSync(shared, 0o755);
    chownSync(shared, OTHER, OTHER);
    refused(
      await runInProcess(['get', 'A'], { env: v.env }),
      1,
      `vault: error: directory ${shared} above the vault is owned by another user (uid ${OTHER})\nvault: hint: keep the vault below directories owned by you or root, or fix it with: chown ${ME} ${q(shared)}\n`,
    );
    await reads(v.env, ['--insecure-permissions']);
  });

  test('reached through a symbolic link: the directory holding the link is checked too', async () => {
    const v = copy();
    const open = join(v.root, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    symlinkSync(v.dir, join(open, 'link'));
    const env = { ...v.env, VAULT_PATH: join(open, 'link', 'vault.db') };
    refused(
      await runInProcess(['get', 'A'], { env }),
      1,
      `vault: error: directory ${open} above the vault is writable by other users (mode 777)\nvault: hint: fix it with: chmod go-w ${q(open)}\n`,
    );
    chmodSync(open, 0o755);
    await reads(env);
  });

  test('init into an existing directory that others can write, or another user owns → 1, nothing created', { skip: NOT_ROOT }, async () => {
    const t = tempDir('vault-perm-init-');
    cleanups.push(t.cleanup);
    const dir = join(t.dir, 'open');
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    const path = join(dir, 'vault.db');
    refused(
      await runInProcess(['init', '--vault', path], { env: { VAULT_PASSPHRASE: PASSPHRASE } }),
      1,
      `vault: error: vault directory ${dir} is writable by other users (mode 777)\nvault: hint: fix it with: chmod 700 ${q(dir)}\n`,
    );
    assert.deepEqual(readdirSync(dir), []);
    chmodSync(dir, 0o700);
    chownSync(dir, OTHER, OTHER);
    refused(
      await runInProcess(['init', '--vault', path], { env: { VAULT_PASSPHRASE: PASSPHRASE } }),
      1,
      `vault: error: vault directory ${dir} is owned by another user (uid ${OTHER})\nvault: hint: ${TAKE_OVER}chown ${ME} ${q(dir)}\n`,
    );
    assert.deepEqual(readdirSync(dir), []);
  });

  test('init beside a -wal left from an earlier vault → 1, the -wal is not replayed into the new vault', async () => {
    const t = tempDir('vault-perm-init-');
    cleanups.push(t.cleanup);
    const path = join(t.dir, 'vault.db');
    writeFileSync(`${path}-wal`, 'old frames', { mode: 0o600 });
    refused(
      await runInProcess(['init', '--vault', path], { env: { VAULT_PASSPHRASE: PASSPHRASE } }),
      1,
      `vault: error: ${path}-wal is left from an earlier vault\nvault: hint: remove it while no vault process runs: rm ${q(`${path}-wal`)}\n`,
    );
    assert.deepEqual(readdirSync(t.dir), ['vault.db-wal']);
  });
});

describe('-wal and -shm beside the vault', () => {
  for (const suffix of ['-wal', '-shm'] as const) {
    test(`a ${suffix} planted by another user, or open to others → 1; nothing is written into it`, { skip: NOT_ROOT }, async () => {
      const v = copy();
      const planted = v.path + suffix;
      // Planted while the directory was open; the directory has been fixed since.
      writeFileSync(planted, '', { mode: 0o666 });
      chmodSync(planted, 0o666);
      chownSync(planted, OTHER, OTHER);
      refused(
        await runInProcess(['put', 'B'], { env: v.env, input: 'bravo' }),
        1,
        `vault: error: ${planted} is owned by another user (uid ${OTHER})\nvault: hint: ${TAKE_OVER}chown ${ME} ${q(planted)} && chmod 600 ${q(planted)}\n`,
      );
      chownSync(planted, process.getuid!(), process.getgid!());
      for (const [mode, what] of [[0o644, 'readable'], [0o604, 'readable'], [0o620, 'writable']] as const) {
        chmodSync(planted, mode);
        refused(
          await runInProcess(['put', 'B'], { env: v.env, input: 'bravo' }),
          1,
          `vault: error: ${planted} is ${what} by other users (mode ${mode.toString(8)})\nvault: hint: fix it with: chmod 600 ${q(planted)}\n`,
        );
      }
      assert.equal(statSync(planted).size, 0, 'nothing written through the planted file');
      chmodSync(planted, 0o600);
      await reads(v.env);
    });

    test(`a ${suffix} that is a symbolic link → 1, even with --insecure-permissions; its target is never created`, async () => {
      const v = copy();
      const loot = join(v.root, 'loot');
      symlinkSync(loot, v.path + suffix);
      const expected = `vault: error: ${v.path}${suffix} is a symbolic link\nvault: hint: remove it while no vault process runs: rm ${q(v.path + suffix)}\n`;
      refused(await runInProcess(['put', 'B'], { env: v.env, input: 'bravo' }), 1, expected);
      refused(await runInProcess(['--insecure-permissions', 'get', 'A'], { env: v.env }), 1, expected);
      assert.equal(existsSync(loot), false);
    });
  }
});

describe('the vault file', () => {
  test('a symbolic link to a vault → 1, even with --insecure-permissions', async () => {
    const v = copy();
    const link = join(v.dir, 'link.db');
    symlinkSync(v.path, link);
    const env = { ...v.env, VAULT_PATH: link };
    const expected = `vault: error: vault file ${link} is a symbolic link\nvault: hint: give the path of the vault file itself, not of a link to it\n`;
    refused(await runInProcess(['get', 'A'], { env }), 1, expected);
    refused(await runInProcess(['--insecure-permissions', 'list'], { env }), 1, expected);
  });

  test('owned by another user → 1 with the chown', { skip: NOT_ROOT }, async () => {
    const v = copy();
    chownSync(v.path, OTHER, OTHER);
    refused(
      await runInProcess(['get', 'A'], { env: v.env }),
      1,
      `vault: error: vault file ${v.path} is owned by another user (uid ${OTHER})\nvault: hint: ${TAKE_OVER}chown ${ME} ${q(v.path)}\n`,
    );
    await reads(v.env, ['--insecure-permissions']);
  });

  test('a FIFO at the vault path → 1 at once, no hang', async () => {
    const t = tempDir('vault-perm-');
    cleanups.push(t.cleanup);
    const path = join(t.dir, 'vault.db');
    assert.equal(spawnSync('mkfifo', ['-m', '600', path]).status, 0);
    refused(await runVault(['list'], { env: { VAULT_PATH: path }, timeoutMs: 10_000 }), 1, `vault: error: ${path} is not a regular file\n`);
  });
});

describe('a swap between the checks and SQLite\'s open', () => {
  /** Runs the CLI with a hook that renames FROM over the vault path + SUFFIX right before SQLite opens it. */
  function racing(args: string[], env: Record<string, string>, from: string, suffix = ''): Promise<RunResult> {
    return runCommand(process.execPath, ['--require', SWAP_HOOK, '--', BIN, ...args], {
      env: { ...env, SWAP_PATH: env.VAULT_PATH!, SWAP_FROM: from, SWAP_SUFFIX: suffix },
      input: 'bravo',
    });
  }

  const replaced = (path: string): string =>
    `vault: error: ${path} or a file beside it was replaced while the vault was being opened\nvault: hint: another process is changing the vault directory; check who can write to it\n`;

  test('the vault file replaced by another vault → 1; the other vault is not read', async () => {
    const v = copy();
    const other = join(v.dir, 'other.db');
    copyFileSync(v.path, other);
    exec(other, `UPDATE secrets SET name = 'PLANTED' WHERE name = 'A'`);
    refused(await racing(['list'], v.env, other), 1, replaced(v.path));
  });

  for (const suffix of ['-wal', '-shm'] as const) {
    // Under --insecure-permissions others may write the directory, so the -wal/-shm SQLite opened
    // must be the very file vault checked. (In a directory closed to others only this user and
    // root could plant one, and a fresh -wal/-shm is what a concurrent vault process's close
    // leaves: there it must pass the sidecar rule and be the one SQLite holds, see the next test.)
    test(`a ${suffix} planted after the checks under --insecure-permissions (SQLite would chmod and chown it to look like ours) → 1, nothing written into it`, { skip: NOT_ROOT }, async () => {
      const v = copy();
      const planted = join(v.dir, 'planted');
      writeFileSync(planted, '');
      chmodSync(planted, 0o644);
      chownSync(planted, OTHER, OTHER);
      // The planter keeps a name (here a hard link) for the file SQLite may write and unlink.
      const kept = join(v.root, 'kept');
      linkSync(planted, kept);
      refused(await racing(['--insecure-permissions', 'put', 'B'], v.env, planted, suffix), 1, replaced(v.path));
      if (suffix === '-wal') assert.equal(statSync(kept).size, 0, 'no page written through the planted file');
      // SQLite maps the -shm on its first read and writes its wal-index there (frame numbers
      // and checksums, no page content) before the check can run; no page reaches it.
      else assert.equal(readFileSync(kept).includes('CREATE TABLE'), false, 'no page written through the planted file');
      const list = await runInProcess(['list'], { env: v.env });
      assert.equal(list.out, 'A\n', 'B was not stored');
    });
  }

  test('the hook itself is harmless when nothing is swapped (control)', async () => {
    const v = copy();
    const r = await runCommand(process.execPath, ['--require', SWAP_HOOK, '--', BIN, 'get', 'A'], { env: v.env });
    assert.equal(r.stderr, '');
    assert.equal(r.status, 0);
    assert.equal(r.out, 'alpha');
  });
});

describe('the schema version', () => {
  test('user_version lowered below the version recorded in meta → 7, the file byte-identical', async () => {
    const v = copy();
    exec(v.path, `PRAGMA user_version = ${SCHEMA_VERSION - 1}`);
    const bytes = readFileSync(v.path);
    const expected = `vault: error: the vault at ${v.path} has schema version ${SCHEMA_VERSION - 1} in its header but ${SCHEMA_VERSION} in its meta table\n${TAMPERED_HINT}`;
    for (const args of [['get', 'A'], ['list'], ['put', 'B'], ['status']]) {
      refused(await runInProcess(args, { env: v.env, input: 'x' }), 7, expected, args.join(' '));
    }
    assert.deepEqual(readFileSync(v.path), bytes);
    assert.deepEqual(readdirSync(v.dir), ['vault.db']);
  });

  test('the meta row edited instead (header and row disagree) → 7; a non-number is not echoed', async () => {
    const v = copy();
    exec(v.path, `UPDATE meta SET value = '1' WHERE key = 'schema_version'`);
    refused(
      await runInProcess(['list'], { env: v.env }),
      7,
      `vault: error: the vault at ${v.path} has schema version ${SCHEMA_VERSION} in its header but 1 in its meta table\n${TAMPERED_HINT}`,
    );
    exec(v.path, `UPDATE meta SET value = 'x''); DROP TABLE secrets; --' WHERE key = 'schema_version'`);
    refused(
      await runInProcess(['list'], { env: v.env }),
      7,
      `vault: error: the vault at ${v.path} has schema version ${SCHEMA_VERSION} in its header but an unreadable value in its meta table\n${TAMPERED_HINT}`,
    );
  });

  test('a file from before the meta row: lowered user_version → 7 (a migration finds its tables), byte-identical; unlowered, it opens and gets the row', async () => {
    const v = copy();
    exec(v.path, `DELETE FROM meta WHERE key = 'schema_version'`);
    exec(v.path, 'PRAGMA user_version = 1');
    const bytes = readFileSync(v.path);
    const expected = `vault: error: the vault at ${v.path} has schema version 1 in its header but newer tables\n${TAMPERED_HINT}`;
    for (const args of [['get', 'A'], ['list']]) refused(await runInProcess(args, { env: v.env }), 7, expected, args.join(' '));
    assert.deepEqual(readFileSync(v.path), bytes);
    assert.deepEqual(readdirSync(v.dir), ['vault.db']);

    exec(v.path, `PRAGMA user_version = ${SCHEMA_VERSION}`);
    await reads(v.env);
    assert.deepEqual(query(v.path, `SELECT value FROM meta WHERE key = 'schema_version'`), [{ value: String(SCHEMA_VERSION) }]);
  });

  test('user_version 0 on a vault → still not a vault file (7)', async () => {
    const v = copy();
    exec(v.path, 'PRAGMA user_version = 0');
    const bytes = readFileSync(v.path);
    refused(
      await runInProcess(['list'], { env: v.env }),
      7,
      `vault: error: ${v.path} is not a vault file or is damaged\nvault: hint: check the path given with --vault or VAULT_PATH; restore the file from a backup\n`,
    );
    assert.deepEqual(readFileSync(v.path), bytes);
  });
});
