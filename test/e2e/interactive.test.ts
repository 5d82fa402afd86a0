import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { inCI } from '../../src/cli/io.js';
import { BIN, runVault, tempDir } from '../helpers/cli.js';
import { Terminal } from '../helpers/tty.js';

/**
 * vault at a real terminal (the one driver, test/helpers/tty.ts: tmux gives it a pty, the test
 * types with send-keys and reads the screen). Prompts must hide what is typed, a mismatch must
 * be asked again, `get` must end its output with a newline on a terminal, Ctrl-C must exit 130.
 */

function terminalOrSkip(t: TestContext): boolean {
  if (Terminal.hasTmux()) return true;
  if (inCI(process.env)) assert.fail('CI is set, so this cannot be skipped: the interactive tests need tmux');
  t.skip('tmux is not installed');
  return false;
}

test('init, put and get at a terminal: hidden prompts, a mismatch asked again, a newline after get; Ctrl-C → 130', { timeout: 240_000 }, async (t) => {
  if (!terminalOrSkip(t)) return;
  const { dir, cleanup } = tempDir('vault-tty-');
  t.after(cleanup);
  mkdirSync(join(dir, 'home'));
  const path = join(dir, 'vault', 'vault.db');
  // A clean environment: no VAULT_PASSPHRASE, no CI (either would switch prompting off).
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(dir, 'home'), LANG: 'C.UTF-8', TERM: 'xterm-256color', VAULT_PATH: path };
  if (process.env.XDG_STATE_HOME) env.XDG_STATE_HOME = process.env.XDG_STATE_HOME;
  const PASS = `tty-pass-${randomBytes(4).toString('hex')}`;
  const TYPO = `tty-typo-${randomBytes(4).toString('hex')}`;
  const VALUE = `tty-value-${randomBytes(4).toString('hex')}`;
  const typed = [PASS, TYPO, VALUE];
  const open = (args: string[]): Terminal => {
    const term = Terminal.start([process.execPath, BIN, ...args], env, dir, { columns: 120, rows: 30 });
    t.after(() => term.close());
    return term;
  };
  /** Nothing typed at a hidden prompt ever shows on the screen or reaches the terminal. */
  const assertHidden = (term: Terminal): void => {
    const all = term.screen() + term.raw();
    for (const secret of typed) assert.equal(all.includes(secret), false, `"${secret}" is visible:\n${term.screen()}`);
  };

  // init: asked twice; a mismatch is reported and asked again.
  const init = open(['init']);
  await init.waitFor(/\? New vault passphrase/);
  init.type(PASS, false);
  assertHidden(init);
  init.key('Enter');
  await init.waitFor(/\? Repeat it/);
  init.type(TYPO);
  await init.waitFor(/the passphrases did not match; try again\n(.*\n)*\? New vault passphrase/);
  init.type(PASS);
  await init.waitFor(/try again\n(.*\n)*\? Repeat it/);
  init.type(PASS);
  assert.equal(await init.exitStatus(), 0, init.screen());
  assert.match(init.screen(), new RegExp(`created vault ${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`));
  assertHidden(init);

  // put: the passphrase, then the value, both hidden.
  const put = open(['put', 'TTY_SECRET']);
  await put.waitFor(/\? Passphrase for /);
  put.type(PASS);
  await put.waitFor(/\? Value for default\/TTY_SECRET/);
  put.type(VALUE, false);
  assertHidden(put);
  put.key('Enter');
  assert.equal(await put.exitStatus(), 0, put.screen());
  assert.match(put.screen(), /stored default\/TTY_SECRET version 1$/);
  assertHidden(put);

  // get: stdout is the terminal, so the value is followed by a newline; with -n it is not.
  const get = open(['get', 'TTY_SECRET']);
  await get.waitFor(/\? Passphrase for /);
  get.type(PASS);
  assert.equal(await get.exitStatus(), 0, get.screen());
  // after the spinner's line is cleared: the value, then a newline
  assert.ok(get.raw().endsWith(`\r\u001b[2K${VALUE}\r\n`), JSON.stringify(get.raw()));
  const getN = open(['get', '-n', 'TTY_SECRET']);
  await getN.waitFor(/\? Passphrase for /);
  getN.type(PASS);
  assert.equal(await getN.exitStatus(), 0, getN.screen());
  assert.ok(getN.raw().endsWith(`\r\u001b[2K${VALUE}`), JSON.stringify(getN.raw()));

  // Ctrl-C at the passphrase prompt, and at the hidden value prompt: 130, nothing stored.
  const c1 = open(['put', 'OTHER']);
  await c1.waitFor(/\? Passphrase for /);
  c1.key('C-c');
  assert.equal(await c1.exitStatus(), 130, c1.screen());
  assert.match(c1.screen(), /vault: error: cancelled$/);
  const c2 = open(['put', 'OTHER']);
  await c2.waitFor(/\? Passphrase for /);
  c2.type(PASS);
  await c2.waitFor(/\? Value for default\/OTHER/);
  c2.type('half-typ', false);
  c2.key('C-c');
  assert.equal(await c2.exitStatus(), 130, c2.screen());
  assert.match(c2.screen(), /vault: error: cancelled$/);
  assert.equal(c2.screen().includes('half-typ'), false);

  const list = await runVault(['list'], { env: { VAULT_PATH: path } });
  assert.equal(list.status, 0, list.stderr);
  assert.equal(list.out, 'TTY_SECRET\n');
});
