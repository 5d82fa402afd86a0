/**
 * The terminal side of unlocking and rotation, in a real terminal (tmux): passwd asks twice,
 * init offers the keychain (real GNOME Keyring) or says once why it cannot, and
 * rotate --master draws a progress line that is cleared at the end.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { inCI } from '../../src/cli/io.js';
import { BIN, passphraseVault, PASSPHRASE, ROOT, runCommand, runVault, tempDir } from '../helpers/cli.js';
import { Terminal } from '../helpers/tty.js';
import { seed } from '../helpers/seed.js';

const NEW = 'brand new passphrase';

function terminalOrSkip(t: TestContext): boolean {
  if (Terminal.hasTmux()) return true;
  if (inCI(process.env)) assert.fail('CI is set, so this cannot be skipped: the terminal tests need tmux');
  t.skip('the terminal tests need tmux');
  return false;
}

function baseTerminalEnv(home: string): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8', TERM: 'xterm-256color' };
}

test('passwd on a terminal asks for the new passphrase twice, and again after a mismatch', { timeout: 120_000 }, async (t) => {
  if (!terminalOrSkip(t)) return;
  const v = await passphraseVault();
  t.after(v.cleanup);
  const term = Terminal.start([process.execPath, BIN, 'passwd'], { ...baseTerminalEnv(v.dir), ...v.env }, v.dir);
  t.after(() => term.close());
  await term.waitFor(/New passphrase/);
  term.type(NEW);
  await term.waitFor(/Repeat it/);
  term.type('something else');
  await term.waitFor(/the passphrases did not match; try again\n.*New passphrase/s);
  term.type(NEW);
  await term.waitFor(/Repeat it[^]*Repeat it/);
  term.type(NEW);
  assert.equal(await term.exitStatus(), 0, term.screen());
  assert.match(term.screen(), new RegExp(`changed the passphrase of ${v.path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
  assert.ok(!term.raw().includes(NEW), 'the passphrase was echoed');
  const get = await runVault(['list'], { env: { VAULT_PATH: v.path, VAULT_PASSPHRASE: NEW } });
  assert.equal(get.status, 0);
  const put = await runVault(['put', 'X'], { env: { VAULT_PATH: v.path, VAULT_PASSPHRASE: NEW }, input: 'x' });
  assert.equal(put.status, 0, put.stderr);
  const old = await runVault(['put', 'Y'], { env: v.env, input: 'y' });
  assert.equal(old.status, 5);
});

test('init on a terminal offers the keychain when it answers, and the answer sticks', { timeout: 120_000 }, async (t) => {
  if (!terminalOrSkip(t)) return;
  const tools = ['gnome-keyring-daemon', 'dbus-run-session', 'dbus-send'];
  const missing = tools.filter((tool) => !Terminal.hasTool(tool));
  if (missing.length > 0) {
    if (inCI(process.env)) assert.fail(`CI is set, so this cannot be skipped: needs ${missing.join(', ')}`);
    t.skip(`needs ${missing.join(', ')}`);
    return;
  }
  const tmp = tempDir('vault-tty-');
  t.after(tmp.cleanup);
  const path = join(tmp.dir, 'vault.db');
  const home = join(tmp.dir, 'keyring-home');
  const session = join(ROOT, 'test', 'helpers', 'keyring-session.sh');
  const term = Terminal.start(['bash', session, process.execPath, BIN, 'init'], { ...baseTerminalEnv(tmp.dir), KEYRING_SESSION_HOME: home, VAULT_PATH: path }, tmp.dir);
  t.after(() => term.close());
  await term.waitFor(/New vault passphrase/);
  term.type(PASSPHRASE);
  await term.waitFor(/Repeat it/);
  term.type(PASSPHRASE);
  await term.waitFor(/Unlock this vault with the Secret Service on this login, without typing the passphrase\? \(Y\/n\)/);
  term.type('y');
  assert.equal(await term.exitStatus(), 0, term.screen());
  assert.match(term.screen(), /created vault .*vault\.db; the Secret Service unlocks it on this login$/);
  // A later session on the same keyring: no passphrase needed.
  const put = await runCommand('bash', [session, process.execPath, BIN, 'put', 'A'], { env: { KEYRING_SESSION_HOME: home, VAULT_PATH: path }, input: 'via keychain' });
  assert.equal(put.status, 0, put.stderr);
  const list = await runVault(['key', 'list', '--json'], { env: { VAULT_PATH: path } });
  assert.deepEqual((JSON.parse(list.out) as Array<{ kind: string }>).map((s) => s.kind), ['passphrase', 'keychain']);
});

test('init on a terminal without D-Bus neither asks about the keychain nor warns (it was not asked for)', { timeout: 120_000 }, async (t) => {
  if (!terminalOrSkip(t)) return;
  const tmp = tempDir('vault-tty-');
  t.after(tmp.cleanup);
  const path = join(tmp.dir, 'vault.db');
  const term = Terminal.start([process.execPath, BIN, 'init'], { ...baseTerminalEnv(tmp.dir), VAULT_PATH: path }, tmp.dir);
  t.after(() => term.close());
  await term.waitFor(/New vault passphrase/);
  term.type(PASSPHRASE);
  await term.waitFor(/Repeat it/);
  term.type(PASSPHRASE);
  assert.equal(await term.exitStatus(), 0, term.screen());
  const screen = term.screen();
  assert.match(screen, /\? Repeat it\s*\ncreated vault .*vault\.db$/);
  assert.ok(!screen.includes('Unlock this vault'));
  assert.ok(!screen.includes('keychain'), screen);
  const list = await runVault(['key', 'list', '--json'], { env: { VAULT_PATH: path } });
  assert.deepEqual((JSON.parse(list.out) as Array<{ kind: string }>).map((s) => s.kind), ['passphrase']);
});

test('rotate --master on a terminal draws a progress counter on stderr and clears it', { timeout: 120_000 }, async (t) => {
  if (!terminalOrSkip(t)) return;
  const v = await passphraseVault();
  t.after(v.cleanup);
  // seeded through the library: one passphrase unlock instead of three
  await seed(v.path, { A: 'value-A', B: 'value-B', C: 'value-C' });
  const term = Terminal.start([process.execPath, BIN, 'rotate', '--master'], { ...baseTerminalEnv(v.dir), ...v.env }, v.dir);
  t.after(() => term.close());
  assert.equal(await term.exitStatus(), 0, term.screen());
  const raw = term.raw();
  const at = raw.indexOf('\r\u001b[2Kre-encrypting 3/3 versions…');
  assert.notEqual(at, -1, JSON.stringify(raw));
  assert.ok(raw.slice(at).includes('…\r\u001b[2Krotated the data key: re-encrypted 3 versions, re-wrapped 1 key slot\r\n'), JSON.stringify(raw));
  assert.equal(term.screen().split('\n').at(-1), 'rotated the data key: re-encrypted 3 versions, re-wrapped 1 key slot');

  const quiet = Terminal.start([process.execPath, BIN, 'rotate', '--master', '--quiet'], { ...baseTerminalEnv(v.dir), ...v.env }, v.dir);
  t.after(() => quiet.close());
  assert.equal(await quiet.exitStatus(), 0, quiet.screen());
  assert.ok(!quiet.raw().includes('re-encrypting'));
});
