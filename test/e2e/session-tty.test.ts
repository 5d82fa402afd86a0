/**
 * A session at a real terminal (tmux): `vault unlock` asks the passphrase once, and the next
 * command at the same terminal neither asks nor waits for the KDF; after `vault lock` it asks again.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inCI } from '../../src/cli/io.js';
import { BIN, PASSPHRASE } from '../helpers/cli.js';
import { sessionVault } from '../helpers/session.js';
import { Terminal } from '../helpers/tty.js';

test('at a terminal: unlock asks once, get then needs no prompt, lock makes it ask again', { timeout: 180_000 }, async (t) => {
  if (!Terminal.hasTmux()) {
    if (inCI(process.env)) assert.fail('CI is set, so this cannot be skipped: the terminal tests need tmux');
    t.skip('the terminal tests need tmux');
    return;
  }
  const v = await sessionVault();
  t.after(v.cleanup);
  assert.equal((await v.withKey(['put', 'TOKEN'], { input: 'tok-at-terminal' })).status, 0);
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: v.dir, LANG: 'C.UTF-8', TERM: 'xterm-256color', ...v.bare, XDG_STATE_HOME: process.env.XDG_STATE_HOME ?? '' };

  const unlock = Terminal.start([process.execPath, BIN, 'unlock', '--for', '1h'], env, v.dir);
  t.after(() => unlock.close());
  await unlock.waitFor(/Passphrase for /);
  unlock.type(PASSPHRASE);
  assert.equal(await unlock.exitStatus(), 0, unlock.screen());
  assert.match(unlock.screen(), /unlocked .*vault\.db for 1h \(locks after 15m without use\); vault lock ends it now$/);
  assert.ok(!unlock.raw().includes(PASSPHRASE), 'the passphrase was echoed');
  const st = JSON.parse((await v.run(['status', '--json'])).out) as { session: { pid: number; state: string } };
  v.track(st.session.pid);
  assert.equal(st.session.state, 'unlocked');

  const get = Terminal.start([process.execPath, BIN, 'get', 'TOKEN'], env, v.dir);
  t.after(() => get.close());
  assert.equal(await get.exitStatus(), 0, get.screen());
  assert.equal(get.screen().trim(), 'tok-at-terminal');

  assert.equal((await v.run(['lock'])).status, 0);
  const again = Terminal.start([process.execPath, BIN, 'get', 'TOKEN'], env, v.dir);
  t.after(() => again.close());
  await again.waitFor(/Passphrase for /);
  again.type(PASSPHRASE);
  assert.equal(await again.exitStatus(), 0, again.screen());
  assert.match(again.screen(), /tok-at-terminal$/);
});
