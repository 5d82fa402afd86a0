import assert from 'node:assert/strict';
import { existsSync, lstatSync } from 'node:fs';
import { test } from 'node:test';
import { runVault } from '../helpers/cli.js';
import { alive, gone, sessionVault, sleep } from '../helpers/session.js';
import { auditLog } from '../helpers/sqlite.js';

const LOCKED = 'vault: error: the vault is locked and no way to unlock it was given\n' +
  'vault: hint: set VAULT_PASSPHRASE(_FILE) or VAULT_MASTER_KEY(_FILE), enable the OS keychain with vault keychain enable, or run in a terminal to be asked\n';

test('vault unlock: get and exec through the session with no key in the environment; lock wipes it', async () => {
  const v = await sessionVault();
  try {
    assert.equal((await v.withKey(['put', 'TOKEN'], { input: 'tok-123\n' })).status, 0);
    assert.equal((await v.withKey(['put', 'ci/DEPLOY'], { input: 'deploy-456' })).status, 0);

    // Without a session, nothing unlocks.
    const before = await v.run(['get', 'TOKEN']);
    assert.deepEqual([before.status, before.out, before.stderr], [4, '', LOCKED]);

    const u = await v.withKey(['unlock', '--for', '1h']);
    assert.equal(u.status, 0, u.stderr);
    assert.equal(u.out, '');
    assert.equal(u.stderr, `unlocked ${v.real} for 1h (locks after 15m without use); vault lock ends it now\n`);
    const st = await v.run(['status', '--json']);
    const session = (JSON.parse(st.out) as { session: { state: string; idleSeconds: number; pid: number; remainingSeconds: number } }).session;
    v.track(session.pid);
    assert.equal(session.state, 'unlocked');
    assert.equal(session.idleSeconds, 900);
    assert.ok(session.remainingSeconds > 3000 && session.remainingSeconds <= 3600, String(session.remainingSeconds));

    // The directory and the socket are private.
    assert.equal(lstatSync(v.agentDir).mode & 0o777, 0o700);
    assert.equal(lstatSync(v.socket).mode & 0o777, 0o600);
    assert.ok(lstatSync(v.socket).isSocket());

    const get = await v.run(['get', 'TOKEN']);
    assert.deepEqual([get.status, get.out, get.stderr], [0, 'tok-123', '']);
    const ns = await v.run(['get', 'ci/DEPLOY', '--json']);
    assert.equal(ns.status, 0, ns.stderr);
    assert.deepEqual(JSON.parse(ns.out), { ns: 'ci', name: 'DEPLOY', version: 1, value: 'deploy-456', encoding: 'utf8', expires: null });
    // A real process through the launcher, and exec (its child sees the secret).
    const ex = await runVault(['exec', '--', process.execPath, '-e', 'process.stdout.write(process.env.TOKEN)'], { env: v.bare });
    assert.deepEqual([ex.status, ex.out, ex.stderr], [0, 'tok-123', '']);
    // A write through the session is verified and audited like any other.
    const put = await v.run(['put', 'NEW'], { input: 'fresh' });
    assert.deepEqual([put.status, put.stderr], [0, 'stored default/NEW version 1\n']);

    const text = await v.run(['status']);
    assert.match(text.out, /\nsession: {3}unlocked, (59m \d+s|1h) left \(until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\), locks after 15m without use\nslots:\n/);

    // The audit log records who started the session and how it was unlocked.
    const starts = auditLog(v.path).filter((e) => e.op === 'unlock');
    assert.deepEqual(starts.map((e) => [e.outcome, e.detail]), [['ok', { method: 'master-key', session: { forSeconds: 3600, idleSeconds: 900 } }]]);

    const lock = await v.run(['lock']);
    assert.deepEqual([lock.status, lock.out, lock.stderr], [0, '', `locked: ended the session of ${v.real}\n`]);
    assert.equal(existsSync(v.socket), false);
    assert.ok(await gone(session.pid), 'the agent exited');
    const after = await v.run(['get', 'TOKEN']);
    assert.deepEqual([after.status, after.out, after.stderr], [4, '', LOCKED]);
    const status = await v.run(['status']);
    assert.match(status.out, /\nsession: {3}locked \(no session; vault unlock starts one\)\nslots:\n/);
    const again = await v.run(['lock', '--json']);
    assert.deepEqual([again.status, JSON.parse(again.out)], [0, { locked: false, path: null }]);
  } finally {
    v.cleanup();
  }
});

test('the absolute timeout: after --for has passed the session is refused and the agent is gone', async () => {
  const v = await sessionVault();
  try {
    assert.equal((await v.withKey(['put', 'TOKEN'], { input: 'tok' })).status, 0);
    const pid = await v.unlock(['--for', '2s']);
    await sleep(2500);
    const r = await v.run(['get', 'TOKEN']);
    assert.deepEqual([r.status, r.out, r.stderr], [4, '', LOCKED]);
    assert.ok(await gone(pid), 'the agent exited at its timeout');
    assert.equal(existsSync(v.socket), false);
  } finally {
    v.cleanup();
  }
});

test('the idle timeout: a session unused for --idle is refused and the agent is gone', async () => {
  const v = await sessionVault();
  try {
    assert.equal((await v.withKey(['put', 'TOKEN'], { input: 'tok' })).status, 0);
    const pid = await v.unlock(['--for', '1h', '--idle', '1s']);
    await sleep(1500);
    const r = await v.run(['get', 'TOKEN']);
    assert.deepEqual([r.status, r.out, r.stderr], [4, '', LOCKED]);
    assert.ok(await gone(pid), 'the agent exited at its idle timeout');
  } finally {
    v.cleanup();
  }
});

test('--no-session and VAULT_SESSION=off skip a running session; unlock refuses to start one then', async () => {
  const v = await sessionVault();
  try {
    assert.equal((await v.withKey(['put', 'TOKEN'], { input: 'tok' })).status, 0);
    await v.unlock();
    const flag = await v.run(['--no-session', 'get', 'TOKEN']);
    assert.deepEqual([flag.status, flag.out, flag.stderr], [4, '', LOCKED]);
    const env = await v.run(['get', 'TOKEN'], { env: { VAULT_SESSION: 'off' } });
    assert.deepEqual([env.status, env.out, env.stderr], [4, '', LOCKED]);
    const st = await v.run(['status'], { env: { VAULT_SESSION: 'off' } });
    assert.match(st.out, /\nsession: {3}off \(--no-session or VAULT_SESSION\)\nslots:\n/);
    const start = await v.withKey(['unlock'], { env: { VAULT_SESSION: 'off' } });
    assert.deepEqual([start.status, start.stderr], [2, 'vault: error: sessions are turned off (VAULT_SESSION)\nvault: hint: unset VAULT_SESSION and drop --no-session to start one\n']);
    // The session itself is untouched and still serves.
    const ok = await v.run(['get', 'TOKEN']);
    assert.deepEqual([ok.status, ok.out], [0, 'tok']);
  } finally {
    v.cleanup();
  }
});

test('bad durations are usage errors and start nothing', async () => {
  const v = await sessionVault();
  try {
    for (const args of [['--for', '0s'], ['--idle', 'soon'], ['--for', '8']]) {
      const r = await v.withKey(['unlock', ...args]);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /^vault: error: invalid duration "[^"]+"\nvault: hint: use a number and a unit: 45s, 90m, 12h, 30d or 2w\n$/);
    }
    assert.equal(existsSync(v.socket), false);
  } finally {
    v.cleanup();
  }
});

test('the agent process gone (a stale socket) means no session, cleanly; lock and unlock clear it', async () => {
  const v = await sessionVault();
  try {
    assert.equal((await v.withKey(['put', 'TOKEN'], { input: 'tok' })).status, 0);
    const pid = await v.unlock();
    process.kill(pid, 'SIGKILL');
    assert.ok(await gone(pid));
    assert.equal(existsSync(v.socket), true, 'a killed agent leaves its socket behind');
    const r = await v.run(['get', 'TOKEN']);
    assert.deepEqual([r.status, r.out, r.stderr], [4, '', LOCKED]);
    const st = await v.run(['status']);
    assert.match(st.out, /\nsession: {3}locked \(no session; vault unlock starts one\)\nslots:\n/);
    const lock = await v.run(['lock']);
    assert.deepEqual([lock.status, lock.stderr], [0, 'no session was running (removed the socket of an agent that is gone)\n']);
    assert.equal(existsSync(v.socket), false);
    // Killed again, then unlocked over the leftover socket: it is replaced.
    const pid2 = await v.unlock();
    process.kill(pid2, 'SIGKILL');
    assert.ok(await gone(pid2));
    const u = await v.withKey(['unlock']);
    assert.equal(u.status, 0, u.stderr);
    assert.equal(u.stderr, `unlocked ${v.real} for 8h (locks after 15m without use); vault lock ends it now\n`);
    const st2 = JSON.parse((await v.run(['status', '--json'])).out) as { session: { pid: number } };
    v.track(st2.session.pid);
    const ok = await v.run(['get', 'TOKEN']);
    assert.deepEqual([ok.status, ok.out], [0, 'tok']);
  } finally {
    v.cleanup();
  }
});

test('vault unlock twice replaces the session; another vault\'s unlock ends it', async () => {
  const v = await sessionVault();
  const w = await sessionVault();
  try {
    assert.equal((await v.withKey(['put', 'TOKEN'], { input: 'tok' })).status, 0);
    const first = await v.unlock(['--idle', '5m']);
    const r = await v.withKey(['unlock', '--idle', '7m']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, `unlocked ${v.real} for 8h (locks after 7m without use); replaced the running session; vault lock ends it now\n`);
    assert.ok(await gone(first), 'the first agent ended');
    const st = JSON.parse((await v.run(['status', '--json'])).out) as { session: { pid: number; idleSeconds: number } };
    v.track(st.session.pid);
    assert.notEqual(st.session.pid, first);
    assert.equal(st.session.idleSeconds, 420);
    assert.equal(alive(st.session.pid), true);

    // Another vault in the same runtime directory (one agent per user): its unlock ends ours.
    const other = await w.withKey(['unlock', '--json'], { env: { XDG_RUNTIME_DIR: v.runtime } });
    assert.equal(other.status, 0, other.stderr);
    const o = JSON.parse(other.out) as { pid: number; replaced: string; path: string };
    w.track(o.pid);
    assert.deepEqual([o.replaced, o.path], [v.real, w.real]);
    assert.ok(await gone(st.session.pid));
    const refused = await v.run(['get', 'TOKEN']);
    assert.deepEqual([refused.status, refused.stderr], [4, LOCKED]);
    const vs = await v.run(['status']);
    assert.match(vs.out, new RegExp(`\\nsession: {3}locked \\(the running session is for ${w.real.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)\\nslots:\\n`));
  } finally {
    v.cleanup();
    w.cleanup();
  }
});
