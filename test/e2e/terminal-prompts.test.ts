/**
 * Prompts that forgive (issue 10 §2), in a real terminal (tmux): a wrong passphrase may be
 * typed again (three attempts, each audited), a field that failed validation starts empty, a
 * multi-line paste at a one-line prompt is refused (never cut), `put --multiline` takes lines
 * until Ctrl-D, an empty value is asked again, `key rm` and `rm` ask and a "no" is exit 0,
 * Ctrl-C while "unlocking…" clears the spinner and says cancelled (130).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { inCI } from '../../src/cli/io.js';
import { BIN, freshVault, passphraseVault, PASSPHRASE, runInProcess, runVault, tempDir } from '../helpers/cli.js';
import { Terminal } from '../helpers/tty.js';

function terminalOrSkip(t: TestContext): boolean {
  if (Terminal.hasTmux()) return true;
  if (inCI(process.env)) assert.fail('CI is set, so this cannot be skipped: the terminal tests need tmux');
  t.skip('the terminal tests need tmux');
  return false;
}

/** A terminal's environment: no VAULT_PASSPHRASE, no CI (either would switch prompting off). */
function terminalEnv(home: string): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8', TERM: 'xterm-256color' };
  if (process.env.XDG_STATE_HOME) env.XDG_STATE_HOME = process.env.XDG_STATE_HOME;
  return env;
}

function start(t: TestContext, args: string[], env: Record<string, string>, dir: string): Terminal {
  const term = Terminal.start([process.execPath, BIN, ...args], { ...terminalEnv(dir), ...env }, dir);
  t.after(() => term.close());
  return term;
}

test('a wrong passphrase at the prompt may be typed again: three attempts, each audited as a failed unlock, then exit 5', { timeout: 180_000 }, async (t) => {
  if (!terminalOrSkip(t)) return;
  const v = await freshVault();
  t.after(v.cleanup);
  assert.equal((await runInProcess(['put', 'A'], { env: v.env, input: 'value-a' })).status, 0);
  const only = { VAULT_PATH: v.path };

  const term = start(t, ['get', 'A'], only, v.dir);
  await term.waitFor(/\? Passphrase for /);
  term.type('wrong one');
  await term.waitFor(/vault: wrong passphrase; try again \(2 attempts left\)\n\? Passphrase for /);
  term.type('wrong two');
  await term.waitFor(/vault: wrong passphrase; try again \(1 attempt left\)\n\? Passphrase for /);
  term.type('wrong three');
  assert.equal(await term.exitStatus(), 5, term.screen());
  assert.match(term.screen(), /\(1 attempt left\)\n\? Passphrase for .*\nvault: error: wrong passphrase or key$/);
  assert.ok(!term.raw().includes('wrong one') && !term.raw().includes('wrong three'), 'a typed passphrase was echoed');
  const failed = async (): Promise<number> => {
    const audit = await runInProcess(['audit', '--json'], { env: v.env });
    return audit.out.split('\n').filter((l) => l.includes('"op":"unlock"') && l.includes('"outcome":"denied"')).length;
  };
  assert.equal(await failed(), 3);

  // One wrong, then the right one: the value, exit 0, one more failed unlock in the log.
  const again = start(t, ['get', 'A'], only, v.dir);
  await again.waitFor(/\? Passphrase for /);
  again.type('still wrong');
  await again.waitFor(/\(2 attempts left\)/);
  again.type(PASSPHRASE);
  assert.equal(await again.exitStatus(), 0, again.screen());
  assert.match(again.screen(), /\nvalue-a$/);
  assert.equal(await failed(), 4);
});

test('init: a passphrase refused as too short is typed again into an empty field (not appended to)', { timeout: 180_000 }, async (t) => {
  if (!terminalOrSkip(t)) return;
  const tmp = tempDir('vault-tty-');
  t.after(tmp.cleanup);
  const path = join(tmp.dir, 'vault', 'vault.db');
  const term = start(t, ['init'], { VAULT_PATH: path }, tmp.dir);
  await term.waitFor(/\? New vault passphrase/);
  term.type('short');
  await term.waitFor(/vault: use at least 8 characters; try again\n\? New vault passphrase/);
  term.type(PASSPHRASE);
  await term.waitFor(/\? Repeat it/);
  term.type(PASSPHRASE);
  assert.equal(await term.exitStatus(), 0, term.screen());
  // The passphrase is what was typed the second time, not "short" + it.
  const put = await runVault(['put', 'X'], { env: { VAULT_PATH: path, VAULT_PASSPHRASE: PASSPHRASE }, input: 'x' });
  assert.equal(put.status, 0, put.stderr);
  const appended = await runVault(['put', 'Y'], { env: { VAULT_PATH: path, VAULT_PASSPHRASE: `short${PASSPHRASE}` }, input: 'y' });
  assert.equal(appended.status, 5);
});

test('a multi-line paste at the value prompt is refused with a hint, never cut; put --multiline takes it until Ctrl-D', { timeout: 120_000 }, async (t) => {
  if (!terminalOrSkip(t)) return;
  const v = await freshVault();
  t.after(v.cleanup);
  const pem = `-----BEGIN PRIVATE KEY-----\n${randomBytes(24).toString('base64')}\n${randomBytes(24).toString('base64')}\n-----END PRIVATE KEY-----`;

  const refused = start(t, ['put', 'PEM'], v.env, v.dir);
  await refused.waitFor(/\? Value for default\/PEM/);
  refused.paste(`${pem}\n`);
  assert.equal(await refused.exitStatus(), 2, refused.screen());
  assert.match(
    refused.screen(),
    /vault: error: the value has several lines, and this prompt takes one; nothing was stored\nvault: hint: vault put NAME --multiline takes several lines \(Ctrl-D ends them\), or use --from-file FILE$/,
  );
  assert.ok(!refused.raw().includes('BEGIN PRIVATE'), 'the pasted value was echoed');
  assert.equal((await runInProcess(['list'], { env: v.env })).out, '');

  // A one-line paste ending with a newline is an ordinary answer.
  const oneLine = start(t, ['put', 'ONE'], v.env, v.dir);
  await oneLine.waitFor(/\? Value for default\/ONE/);
  oneLine.paste('pasted-single-line\n');
  assert.equal(await oneLine.exitStatus(), 0, oneLine.screen());
  assert.equal((await runInProcess(['get', 'ONE'], { env: v.env })).out, 'pasted-single-line');

  const multi = start(t, ['put', 'PEM', '--multiline'], v.env, v.dir);
  await multi.waitFor(/\? Value for default\/PEM \(several lines, hidden; Ctrl-D on a new line ends\)/);
  multi.paste(`${pem}\n`);
  multi.type('typed last line');
  multi.key('C-d');
  assert.equal(await multi.exitStatus(), 0, multi.screen());
  assert.match(multi.screen(), /stored default\/PEM version 1$/);
  assert.ok(!multi.raw().includes('BEGIN PRIVATE') && !multi.raw().includes('typed last'), 'the value was echoed');
  const got = await runInProcess(['get', 'PEM'], { env: v.env });
  assert.equal(got.out, `${pem}\ntyped last line`);
});

test('an empty value at the prompt is asked again', { timeout: 120_000 }, async (t) => {
  if (!terminalOrSkip(t)) return;
  const v = await freshVault();
  t.after(v.cleanup);
  const term = start(t, ['put', 'EMPTY_FIRST'], v.env, v.dir);
  await term.waitFor(/\? Value for default\/EMPTY_FIRST/);
  term.key('Enter');
  await term.waitFor(/vault: the value is empty; type it, or press Ctrl-C to cancel\n\? Value for default\/EMPTY_FIRST/);
  term.type('now-a-value');
  assert.equal(await term.exitStatus(), 0, term.screen());
  assert.equal((await runInProcess(['get', 'EMPTY_FIRST'], { env: v.env })).out, 'now-a-value');
});

test('key rm and rm ask on a terminal; "no" is exit 0 and "nothing removed"; "yes" removes', { timeout: 120_000 }, async (t) => {
  if (!terminalOrSkip(t)) return;
  const v = await freshVault();
  t.after(v.cleanup);
  const add = await runInProcess(['key', 'add', '--label', 'deploy', '--json'], { env: v.env });
  const id = (JSON.parse(add.out) as { id: string }).id;
  assert.equal((await runInProcess(['put', 'GONE'], { env: v.env, input: 'g' })).status, 0);

  const no = start(t, ['key', 'rm', id], v.env, v.dir);
  await no.waitFor(new RegExp(`Revoke the master-key slot ${id} \\("deploy"\\)\\? \\(y/N\\)`));
  no.type('n');
  assert.equal(await no.exitStatus(), 0, no.screen());
  assert.match(no.screen(), /nothing removed$/);
  assert.ok((await runInProcess(['key', 'list'], { env: v.env })).out.includes(id));

  const yes = start(t, ['key', 'rm', id], v.env, v.dir);
  await yes.waitFor(/\(y\/N\)/);
  yes.type('y');
  assert.equal(await yes.exitStatus(), 0, yes.screen());
  assert.match(yes.screen(), new RegExp(`revoked master-key slot ${id} \\("deploy"\\)$`));
  assert.ok(!(await runInProcess(['key', 'list'], { env: v.env })).out.includes(id));

  const rmNo = start(t, ['rm', 'GONE'], v.env, v.dir);
  await rmNo.waitFor(/Remove default\/GONE\? \(y\/N\)/);
  rmNo.type('n');
  assert.equal(await rmNo.exitStatus(), 0, rmNo.screen());
  assert.match(rmNo.screen(), /nothing removed$/);
  assert.equal((await runInProcess(['get', 'GONE'], { env: v.env })).out, 'g');

  // Ctrl-C at the question stays 130.
  const cancel = start(t, ['rm', 'GONE'], v.env, v.dir);
  await cancel.waitFor(/Remove default\/GONE\? \(y\/N\)/);
  cancel.key('C-c');
  assert.equal(await cancel.exitStatus(), 130, cancel.screen());
  assert.match(cancel.screen(), /vault: error: cancelled$/);
});

test('Ctrl-C while "unlocking…" clears the spinner and says cancelled (130)', { timeout: 180_000 }, async (t) => {
  if (!terminalOrSkip(t)) return;
  // Today's KDF cost (about a second): the spinner is up long enough to be interrupted. If the
  // key derivation wins the race anyway, the attempt is made again.
  const v = await passphraseVault();
  t.after(v.cleanup);
  assert.equal((await runInProcess(['put', 'A'], { env: { VAULT_PATH: v.path, VAULT_PASSPHRASE: PASSPHRASE }, input: 'a' })).status, 0);
  for (let attempt = 1; ; attempt++) {
    const term = start(t, ['get', 'A'], v.env, v.dir);
    await term.waitFor(/unlocking…/);
    term.key('C-c');
    const status = await term.exitStatus();
    if (status === 0 && attempt < 5) continue;
    assert.equal(status, 130, term.screen());
    assert.equal(term.screen(), 'vault: error: cancelled');
    // The terminal may echo ^C; the line is cleared either way, then the error (red: a terminal).
    assert.match(term.raw(), /unlocking…(\^C)?\r\u001b\[2Kvault: \u001b\[31merror:\u001b\[39m cancelled\r\n$/);
    break;
  }
});
