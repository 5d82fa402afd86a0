import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { ROOT, runVault, tempDir } from '../helpers/cli.js';

/**
 * vault at a real terminal: tmux gives it a pty, the test types into it with send-keys and
 * reads the screen with capture-pane. Prompts must hide what is typed, a mismatch must be
 * asked again, `get` must end its output with a newline on a terminal, Ctrl-C must exit 130.
 */

const WAIT_MS = 30_000;

function tmuxAvailable(): boolean {
  return spawnSync('tmux', ['-V'], { stdio: 'ignore' }).status === 0;
}

class Pane {
  private readonly socket = `vault-test-${process.pid}-${randomBytes(4).toString('hex')}`;

  constructor(private readonly env: Record<string, string>) {}

  private tmux(...args: string[]): string {
    const r = spawnSync('tmux', ['-L', this.socket, '-f', '/dev/null', ...args], { env: this.env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  start(): void {
    this.tmux('new-session', '-d', '-x', '120', '-y', '30', '-s', 'vault', '-c', ROOT, 'sh');
  }

  /** The whole pane, scrollback included, wrapped lines joined. */
  screen(): string {
    return this.tmux('capture-pane', '-p', '-J', '-S', '-1000', '-t', 'vault');
  }

  type(text: string): void {
    this.tmux('send-keys', '-t', 'vault', '-l', text);
  }

  key(name: string): void {
    this.tmux('send-keys', '-t', 'vault', name);
  }

  /** Types a shell command tagged with a unique step label, so waits can look only at its output. */
  run(step: string, command: string): void {
    this.type(`${command}; echo "rc=$?" # ${step}`);
    this.key('Enter');
  }

  /** The screen from the command line of `step` on. */
  since(step: string): string {
    const screen = this.screen();
    const at = screen.lastIndexOf(`# ${step}`);
    return at === -1 ? '' : screen.slice(at);
  }

  /** Polls the screen (bounded) until the output of `step` matches. */
  async waitFor(step: string, pattern: RegExp): Promise<string> {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const text = this.since(step);
      if (pattern.test(text)) return text;
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${pattern} after "# ${step}"; the pane shows:\n${this.screen()}`);
      await sleep(50);
    }
  }

  kill(): void {
    spawnSync('tmux', ['-L', this.socket, 'kill-server'], { env: this.env, stdio: 'ignore' });
  }
}

test('init, put and get at a terminal: hidden prompts, a mismatch asked again, a newline after get; Ctrl-C → 130', async (t) => {
  if (!tmuxAvailable()) {
    if (process.env.CI === 'true') assert.fail('tmux is required in CI for the interactive tests');
    t.skip('tmux is not installed');
    return;
  }
  const { dir, cleanup } = tempDir('vault-tty-');
  mkdirSync(join(dir, 'home'));
  const path = join(dir, 'vault', 'vault.db');
  // A clean environment: no VAULT_PASSPHRASE, no CI (either would switch prompting off).
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(dir, 'home'), LANG: 'C.UTF-8', TERM: 'xterm-256color', VAULT_PATH: path, PS1: '$ ' };
  const pane = new Pane(env);
  const PASS = `tty-pass-${randomBytes(4).toString('hex')}`;
  const TYPO = `tty-typo-${randomBytes(4).toString('hex')}`;
  const VALUE = `tty-value-${randomBytes(4).toString('hex')}`;
  const typed = [PASS, TYPO, VALUE];
  /** Nothing typed at a hidden prompt ever shows on the screen. */
  const assertHidden = (): void => {
    const screen = pane.screen();
    for (const secret of typed) assert.equal(screen.includes(secret), false, `"${secret}" is visible:\n${screen}`);
  };
  try {
    pane.start();

    // init: asked twice; a mismatch is reported and asked again.
    pane.run('init', 'node bin/vault.js init');
    await pane.waitFor('init', /\? New vault passphrase/);
    pane.type(PASS);
    assertHidden();
    pane.key('Enter');
    await pane.waitFor('init', /\? Repeat it/);
    pane.type(TYPO);
    assertHidden();
    pane.key('Enter');
    await pane.waitFor('init', /the passphrases did not match; try again\n(.*\n)*\? New vault passphrase/);
    pane.type(PASS);
    pane.key('Enter');
    await pane.waitFor('init', /try again\n(.*\n)*\? Repeat it/);
    pane.type(PASS);
    assertHidden();
    pane.key('Enter');
    const init = await pane.waitFor('init', /rc=\d+/);
    assert.match(init, new RegExp(`created vault ${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\nrc=0`));
    assertHidden();

    // put: the passphrase, then the value, both hidden.
    pane.run('put', 'node bin/vault.js put TTY_SECRET');
    await pane.waitFor('put', /\? Passphrase for /);
    pane.type(PASS);
    assertHidden();
    pane.key('Enter');
    await pane.waitFor('put', /\? Value for default\/TTY_SECRET/);
    pane.type(VALUE);
    assertHidden();
    pane.key('Enter');
    const put = await pane.waitFor('put', /rc=\d+/);
    assert.match(put, /stored default\/TTY_SECRET version 1\nrc=0/);
    assertHidden();

    // get: stdout is the terminal, so the value is followed by a newline (rc= starts a new line);
    // with -n it is not.
    pane.run('get', 'node bin/vault.js get TTY_SECRET');
    await pane.waitFor('get', /\? Passphrase for /);
    pane.type(PASS);
    pane.key('Enter');
    const get = await pane.waitFor('get', /rc=\d+/);
    assert.match(get, new RegExp(`\n${VALUE}\nrc=0`));
    pane.run('get-n', 'node bin/vault.js get -n TTY_SECRET');
    await pane.waitFor('get-n', /\? Passphrase for /);
    pane.type(PASS);
    pane.key('Enter');
    const getN = await pane.waitFor('get-n', /rc=\d+/);
    assert.match(getN, new RegExp(`\n${VALUE}rc=0`));

    // Ctrl-C at the passphrase prompt, and at the hidden value prompt: 130, nothing stored.
    pane.run('cancel-pass', 'node bin/vault.js put OTHER');
    await pane.waitFor('cancel-pass', /\? Passphrase for /);
    pane.key('C-c');
    const c1 = await pane.waitFor('cancel-pass', /rc=\d+/);
    assert.match(c1, /vault: error: cancelled\nrc=130/);
    pane.run('cancel-value', 'node bin/vault.js put OTHER');
    await pane.waitFor('cancel-value', /\? Passphrase for /);
    pane.type(PASS);
    pane.key('Enter');
    await pane.waitFor('cancel-value', /\? Value for default\/OTHER/);
    pane.type('half-typ');
    pane.key('C-c');
    const c2 = await pane.waitFor('cancel-value', /rc=\d+/);
    assert.match(c2, /vault: error: cancelled\nrc=130/);
    assert.equal(pane.screen().includes('half-typ'), false);

    const list = await runVault(['list'], { env: { VAULT_PATH: path } });
    assert.equal(list.status, 0, list.stderr);
    assert.equal(list.out, 'TTY_SECRET\n');
  } finally {
    pane.kill();
    cleanup();
  }
});
