import assert from 'node:assert/strict';
import { chmodSync, chownSync, copyFileSync, existsSync, readdirSync, readFileSync, readlinkSync, renameSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ask } from '../../src/agent/client.js';
import { BIN, PASSPHRASE, ROOT, runCommand } from '../helpers/cli.js';
import { gone, sessionVault } from '../helpers/session.js';
import { auditLog, exec, sqlite, sqliteJson } from '../helpers/sqlite.js';

const LOCKED = 'vault: error: the vault is locked and no way to unlock it was given\n' +
  'vault: hint: set VAULT_PASSPHRASE(_FILE) or VAULT_MASTER_KEY(_FILE), enable the OS keychain with vault keychain enable, or run in a terminal to be asked\n';

test('a session directory or socket with the wrong mode, owner or a symlink is refused by the client', async () => {
  const v = await sessionVault();
  try {
    assert.equal((await v.withKey(['put', 'TOKEN'], { input: 'tok' })).status, 0);
    await v.unlock();
    assert.equal((await v.run(['get', 'TOKEN'])).out, 'tok');

    const refusedWith = async (why: string): Promise<void> => {
      const r = await v.run(['get', 'TOKEN']);
      assert.deepEqual([r.status, r.out, r.stderr], [4, '', `vault: warning: not using the session: ${why}\n${LOCKED}`]);
    };

    chmodSync(v.agentDir, 0o755);
    await refusedWith(`${v.agentDir} has mode 755; it must be 700 or stricter`);
    const st = await v.run(['status']);
    assert.match(st.out, new RegExp(`\\nsession: {3}refused: ${v.agentDir} has mode 755; it must be 700 or stricter\\nslots:\\n`));
    // vault unlock and vault lock refuse it too, rather than talk to it or replace it.
    const u = await v.withKey(['unlock']);
    assert.deepEqual([u.status, u.stderr], [1, `vault: error: the session directory ${v.agentDir} has mode 755; it must be 700 or stricter; refusing to use it\nvault: hint: remove it, or make it yours and private (chmod 700); another user may be trying to intercept the vault's key\n`]);
    const l = await v.run(['lock']);
    assert.equal(l.status, 1, l.stderr);
    chmodSync(v.agentDir, 0o700);

    chmodSync(v.socket, 0o666);
    await refusedWith(`${v.socket} has mode 666; it must be 600 or stricter`);
    chmodSync(v.socket, 0o600);
    assert.equal((await v.run(['get', 'TOKEN'])).out, 'tok');

    if (process.geteuid?.() === 0) {
      // Owned by another user (as root we can make it so): refused, whatever its mode.
      chownSync(v.socket, 65534, 65534);
      await refusedWith(`${v.socket} belongs to uid 65534, not to us (uid 0)`);
      chownSync(v.socket, 0, 0);
      chownSync(v.agentDir, 65534, 65534);
      await refusedWith(`${v.agentDir} belongs to uid 65534, not to us (uid 0)`);
      chownSync(v.agentDir, 0, 0);
      assert.equal((await v.run(['get', 'TOKEN'])).out, 'tok');
    }

    // The directory replaced by a symbolic link to a private directory: not followed.
    const real = join(v.runtime, 'elsewhere');
    renameSync(v.agentDir, real);
    symlinkSync(real, v.agentDir);
    await refusedWith(`${v.agentDir} is a symbolic link`);
  } finally {
    v.cleanup();
  }
});

test('the agent serves only its vault: another vault, and the same vault id at another path, get nothing', async () => {
  const v = await sessionVault();
  const w = await sessionVault();
  try {
    assert.equal((await v.withKey(['put', 'TOKEN'], { input: 'tok' })).status, 0);
    assert.equal((await w.withKey(['put', 'TOKEN'], { input: 'other' })).status, 0);
    await v.unlock();
    const env = { XDG_RUNTIME_DIR: v.runtime };
    // Another vault using the same agent: refused by the agent, so plainly locked.
    const r = await w.run(['get', 'TOKEN'], { env });
    assert.deepEqual([r.status, r.out, r.stderr], [4, '', LOCKED]);
    // The protocol itself: right id, other path; right path, other id.
    const id = (JSON.parse((await v.run(['status', '--json'])).out) as { vaultId: string }).vaultId;
    const otherPath = await ask(env, 'key', { id, path: w.real });
    assert.equal(otherPath.kind, 'answer');
    assert.deepEqual(otherPath.kind === 'answer' && [otherPath.answer, otherPath.key], [{ ok: false, reason: 'other-vault' }, undefined]);
    const otherId = await ask(env, 'key', { id: 'f'.repeat(32), path: v.real });
    assert.deepEqual(otherId.kind === 'answer' && otherId.answer, { ok: false, reason: 'other-vault' });
    const garbage = await ask(env, 'key', {});
    assert.deepEqual(garbage.kind === 'answer' && garbage.answer, { ok: false, reason: 'other-vault' });
    // The real one gets its 32-byte key.
    const mine = await ask(env, 'key', { id, path: v.real });
    assert.equal(mine.kind === 'answer' && mine.key?.length, 32);
    // And the session still serves its own vault.
    const ok = await v.run(['get', 'TOKEN']);
    assert.deepEqual([ok.status, ok.out], [0, 'tok']);
  } finally {
    v.cleanup();
    w.cleanup();
  }
});

test('a stale session (rotate --master by another process) is ended, recorded, and the next unlock method is used', async () => {
  const v = await sessionVault();
  try {
    assert.equal((await v.withKey(['put', 'TOKEN'], { input: 'tok' })).status, 0);
    const pid = await v.unlock();
    // Another process, not using sessions, rotates the data key.
    const rot = await v.withKey(['rotate', '--master'], { env: { VAULT_SESSION: 'off' } });
    assert.equal(rot.status, 0, rot.stderr);
    assert.equal(rot.stderr, 'rotated the data key: re-encrypted 1 version, re-wrapped 2 key slots (1 takes the new key at its next unlock)\n');
    const stale = await v.run(['get', 'TOKEN']);
    assert.deepEqual([stale.status, stale.out, stale.stderr], [4, '', `vault: warning: the session held an old data key (rotate --master ran since vault unlock) and was ended; run vault unlock again\n${LOCKED}`]);
    assert.ok(await gone(pid), 'the stale agent was told to lock');
    // Not tampering: the next method (here the passphrase) unlocks, and the failed session
    // unlock is in the chain.
    const pass = await v.run(['get', 'TOKEN'], { env: { VAULT_PASSPHRASE: PASSPHRASE } });
    assert.deepEqual([pass.status, pass.out], [0, 'tok']);
    const denied = auditLog(v.path).filter((e) => e.op === 'unlock' && e.outcome === 'denied');
    assert.deepEqual(denied.map((e) => e.detail), [{ method: 'session' }]);
    const verify = await v.withKey(['audit', 'verify']);
    assert.equal(verify.status, 0, verify.stderr);
  } finally {
    v.cleanup();
  }
});

test('rotate --master through the session updates it, and leaves every slot reachable', async () => {
  const v = await sessionVault();
  try {
    assert.equal((await v.withKey(['put', 'TOKEN'], { input: 'tok' })).status, 0);
    const pid = await v.unlock();
    const rot = await v.run(['rotate', '--master']);
    assert.equal(rot.status, 0, rot.stderr);
    // No slot was opened (the session holds no KEK): both slots follow the new key at their next unlock.
    assert.equal(rot.stderr, 'rotated the data key: re-encrypted 1 version, re-wrapped 2 key slots (2 take the new key at their next unlock)\nthe running session now holds the new key\n');
    const viaSession = await v.run(['get', 'TOKEN']);
    assert.deepEqual([viaSession.status, viaSession.out, viaSession.stderr], [0, 'tok', '']);
    const st = JSON.parse((await v.run(['status', '--json'])).out) as { session: { pid: number } };
    assert.equal(st.session.pid, pid, 'the same agent, refreshed');
    // Every slot still opens.
    const byKey = await v.withKey(['--no-session', 'get', 'TOKEN']);
    assert.deepEqual([byKey.status, byKey.out], [0, 'tok']);
    const byPass = await v.run(['--no-session', 'get', 'TOKEN'], { env: { VAULT_PASSPHRASE: PASSPHRASE } });
    assert.deepEqual([byPass.status, byPass.out], [0, 'tok']);
    const keys = await v.withKey(['key', 'list', '--json']);
    assert.equal(keys.status, 0, keys.stderr);
    assert.deepEqual((JSON.parse(keys.out) as Array<{ state: string }>).map((k) => k.state), ['sealed', 'sealed']);
    // The agent refuses a refresh from someone who does not show the current key.
    const bad = await ask({ XDG_RUNTIME_DIR: v.runtime }, 'refresh', { id: JSON.parse((await v.run(['status', '--json'])).out).vaultId, path: v.real }, Buffer.alloc(64, 7));
    assert.deepEqual(bad.kind === 'answer' && bad.answer, { ok: false, reason: 'wrong-key' });
    assert.equal((await v.run(['get', 'TOKEN'])).out, 'tok');
  } finally {
    v.cleanup();
  }
});

test('a session does not bypass the integrity checks: a row edited by a writer of the file is refused (exit 7)', async () => {
  const v = await sessionVault();
  try {
    assert.equal((await v.withKey(['put', 'TOKEN'], { input: 'tok' })).status, 0);
    await v.unlock();
    assert.equal((await v.run(['get', 'TOKEN'])).out, 'tok');
    exec(v.path, `UPDATE secrets SET description = 'edited' WHERE name = 'TOKEN'`);
    const r = await v.run(['get', 'TOKEN']);
    assert.deepEqual([r.status, r.out], [7, '']);
    assert.equal(r.stderr, 'vault: error: secret default/TOKEN failed its integrity check: its record was edited or rolled back\nvault: hint: the vault file may have been tampered with; restore it from a backup\n');
    // A planted slot fails the state record under the session's key, as under a slot's.
    exec(v.path, `UPDATE secrets SET description = NULL WHERE name = 'TOKEN'`);
    assert.equal((await v.run(['get', 'TOKEN'])).out, 'tok');
    sqlite(v.path, `CREATE TEMP TABLE t AS SELECT * FROM slots WHERE kind = 'master-key'; UPDATE t SET id = 'planted1', label = 'planted'; INSERT INTO slots SELECT * FROM t;`);
    const planted = await v.run(['get', 'TOKEN']);
    assert.deepEqual([planted.status, planted.out], [7, '']);
    assert.match(planted.stderr, /^vault: error: key slot planted1 failed its integrity check: it was added or edited without a key\n/);
  } finally {
    v.cleanup();
  }
});

test('a writer of the file who swaps the sealed audit keys only ends the session; nothing is served', async () => {
  const v = await sessionVault();
  const w = await sessionVault();
  try {
    assert.equal((await v.withKey(['put', 'TOKEN'], { input: 'tok' })).status, 0);
    const pid = await v.unlock();
    // Another vault's sealed keys, planted in this one: they do not open under the session's key.
    const other = sqliteJson<{ value: string }>(w.path, "SELECT value FROM meta WHERE key = 'audit_keys'")[0]!.value;
    exec(v.path, `UPDATE meta SET value = ? WHERE key = 'audit_keys'`, [other]);
    const r = await v.run(['get', 'TOKEN']);
    assert.deepEqual([r.status, r.out], [4, '']);
    assert.ok(await gone(pid));
    // The passphrase then sees the tampering for what it is.
    const p = await v.run(['get', 'TOKEN'], { env: { VAULT_PASSPHRASE: PASSPHRASE } });
    assert.deepEqual([p.status, p.out], [7, '']);
  } finally {
    v.cleanup();
    w.cleanup();
  }
});

test('vault get through a session loads no prompt, table, keychain or colour module', async () => {
  const v = await sessionVault();
  try {
    assert.equal((await v.withKey(['put', 'TOKEN'], { input: 'abc123\n' })).status, 0);
    await v.unlock();
    // Both loaders traced: ES modules (import()) and CommonJS (the bundle and its require()s).
    const trace = join(v.dir, 'imports.txt');
    const required = join(v.dir, 'require.txt');
    const get = await runCommand(
      process.execPath,
      ['--import', join(ROOT, 'test', 'fixtures', 'trace-imports.mjs'), '--require', join(ROOT, 'test', 'fixtures', 'trace-require.cjs'), BIN, 'get', 'TOKEN'],
      { env: { ...v.bare, TRACE_IMPORTS_FILE: trace, TRACE_REQUIRE_FILE: required } },
    );
    assert.deepEqual([get.status, get.out, get.stderr], [0, 'abc123', '']);
    const loaded = [...readFileSync(trace, 'utf8').split('\n'), ...readFileSync(required, 'utf8').split('\n')].filter(Boolean);
    assert.ok(loaded.includes(join(ROOT, 'dist', 'cli', 'get.cjs')), 'the trace saw get\'s bundle');
    assert.deepEqual(loaded.filter((u) => ['@inquirer', 'cli-table3', '@napi-rs/keyring', 'chalk', 'child_process'].some((h) => u.includes(h))), []);
  } finally {
    v.cleanup();
  }
});

test('the library API unlocks with { session: true } when a session runs, and is locked (code locked) when none does', async () => {
  const v = await sessionVault();
  try {
    assert.equal((await v.withKey(['put', 'TOKEN'], { input: 'tok' })).status, 0);
    const { openVault, VaultError } = await import('../../src/index.js');
    const env = { ...v.bare, XDG_STATE_HOME: process.env.XDG_STATE_HOME ?? '' };
    await assert.rejects(openVault({ env, unlock: { session: true } }), (e: unknown) => e instanceof VaultError && e.code === 'locked' && e.message === 'no session is running for this vault');
    await v.unlock();
    const h = await openVault({ env, unlock: { session: true } });
    try {
      assert.equal(h.get('TOKEN'), 'tok');
    } finally {
      h.close();
    }
  } finally {
    v.cleanup();
  }
});

test('the agent: empty environment, no stdio, no inspector on SIGUSR1, survives SIGHUP, ends on SIGTERM', async (t) => {
  if (!existsSync('/proc/self/fd')) {
    t.skip('needs /proc');
    return;
  }
  const v = await sessionVault();
  try {
    assert.equal((await v.withKey(['put', 'TOKEN'], { input: 'tok' })).status, 0);
    const pid = await v.unlock();
    assert.equal(readFileSync(`/proc/${pid}/environ`, 'utf8'), '');
    // Nothing of the start is held: no pipe to vault unlock, no terminal; stdout and stderr are /dev/null.
    const fds = readdirSync(`/proc/${pid}/fd`).map((n) => [n, readlinkSync(`/proc/${pid}/fd/${n}`)] as const);
    // (fds 0 and 3, the start's pipes, are closed; node reuses the numbers for its own handles)
    assert.deepEqual(fds.filter(([n, l]) => ((n === '0' || n === '3') && l.startsWith('pipe:')) || l.startsWith('/dev/pts') || l.startsWith('/dev/tty')), []);
    assert.deepEqual(fds.filter(([n]) => n === '1' || n === '2').map(([, l]) => l), ['/dev/null', '/dev/null']);
    process.kill(pid, 'SIGHUP');
    process.kill(pid, 'SIGUSR1');
    assert.deepEqual([(await v.run(['get', 'TOKEN'])).out], ['tok']);
    // Nothing listens on the inspector's port (9229 = 0x2405; state 0A = LISTEN).
    const listening = ['/proc/net/tcp', '/proc/net/tcp6'].filter(existsSync).flatMap((f) => readFileSync(f, 'utf8').split('\n')).filter((l) => / [0-9A-F]+:2405 [0-9A-F]+:0000 0A /.test(l));
    assert.deepEqual(listening, []);
    process.kill(pid, 'SIGTERM');
    assert.ok(await gone(pid));
    assert.equal(existsSync(v.socket), false);
    const r = await v.run(['get', 'TOKEN']);
    assert.deepEqual([r.status, r.stderr], [4, LOCKED]);
  } finally {
    v.cleanup();
  }
});

test('a session does not bypass the rollback anchor: an older copy of the whole file is refused (exit 7)', async () => {
  const v = await sessionVault();
  try {
    assert.equal((await v.withKey(['put', 'TOKEN'], { input: 'old-value' })).status, 0);
    const backup = `${v.path}.bak`;
    copyFileSync(v.path, backup);
    await v.unlock();
    const put = await v.run(['put', 'TOKEN', '--force'], { input: 'new-value' });
    assert.equal(put.status, 0, put.stderr);
    copyFileSync(backup, v.path);
    const r = await v.run(['get', 'TOKEN']);
    assert.deepEqual([r.status, r.out], [7, '']);
    assert.match(r.stderr, /^vault: error: the vault file was rolled back: it is at state \d+ \(audit entry #\d+\), but this user last saw state \d+ \(audit entry #\d+\)\nvault: hint: if you restored this file from a backup on purpose, accept it with: vault accept-restore\n$/);
  } finally {
    v.cleanup();
  }
});
