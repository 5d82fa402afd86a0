/**
 * Output (issue 10 §4): tables that fit the terminal, descriptions in `list` on a terminal,
 * colour through chalk by the rules (terminal only, NO_COLOR, --no-color), progress only on a
 * terminal, and `exec --mask` returning when its command exits although a background process
 * still holds the pipe.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { inCI } from '../../src/cli/io.js';
import { BIN, freshVault, passphraseVault, runInProcess, runVault } from '../helpers/cli.js';
import { Terminal } from '../helpers/tty.js';

function terminalOrSkip(t: TestContext): boolean {
  if (Terminal.hasTmux()) return true;
  if (inCI(process.env)) assert.fail('CI is set, so this cannot be skipped: the terminal tests need tmux');
  t.skip('the terminal tests need tmux');
  return false;
}

function terminalEnv(home: string): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8', TERM: 'xterm-256color' };
  if (process.env.XDG_STATE_HOME) env.XDG_STATE_HOME = process.env.XDG_STATE_HOME;
  return env;
}

test('exec --mask returns when the command exits, although a background grandchild still holds the pipe', { timeout: 60_000 }, async () => {
  const v = await freshVault();
  try {
    assert.equal((await runInProcess(['put', 'TOKEN'], { env: v.env, input: 'sekrit-token-value' })).status, 0);
    // The grandchild sleeps 30 s holding stdout and stderr; the runner kills vault after 20 s.
    const r = await runVault(['exec', '--mask', '--', 'sh', '-c', 'sleep 30 & echo "hi $TOKEN"; echo "err $TOKEN" >&2; exit 3'], { env: v.env, timeoutMs: 20_000 });
    assert.equal(r.signal, null, 'vault was killed: it waited for the grandchild');
    assert.equal(r.status, 3);
    assert.equal(r.out, 'hi *****\n');
    assert.equal(r.stderr, 'err *****\n');
  } finally {
    v.cleanup();
  }
});

test('progress stays off stderr when it is not a terminal (a KDF unlock prints only the result)', async () => {
  const v = await passphraseVault();
  try {
    const r = await runVault(['put', 'SLOW'], { env: v.env, input: 'value' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, 'stored default/SLOW version 1\n');
  } finally {
    v.cleanup();
  }
});

test('list on a narrow terminal: descriptions shown, wrapped inside their column; no line wider than the terminal', { timeout: 120_000 }, async (t) => {
  if (!terminalOrSkip(t)) return;
  const v = await freshVault();
  t.after(v.cleanup);
  const description = 'the deploy key of the staging cluster, rotated every quarter by the platform team';
  assert.equal((await runInProcess(['put', 'DEPLOY_KEY', '--description', description], { env: v.env, input: 'x1' })).status, 0);
  assert.equal((await runInProcess(['put', 'API', '--description', 'short'], { env: v.env, input: 'x2' })).status, 0);
  const term = Terminal.start([process.execPath, BIN, 'list', '--no-color'], { ...terminalEnv(v.dir), ...v.env }, v.dir, { columns: 90, rows: 30 });
  t.after(() => term.close());
  assert.equal(await term.exitStatus(), 0, term.screen());
  const lines = term.raw().replace(/\r/g, '').split('\n').filter((l) => l.length > 0);
  assert.match(lines[0]!, /^NAME +NAMESPACE +VERSION +UPDATED +EXPIRES +MASKED +DESCRIPTION +$/);
  for (const line of lines) assert.ok(line.length <= 90, `wider than 90 columns: ${JSON.stringify(line)}`);
  assert.match(lines[1]!, /^API +default +1 +\d{4}-\d\d-\d\d \d\d:\d\dZ +- +yes +short +$/);
  assert.match(lines[2]!, /^DEPLOY_KEY +default +1 +\d{4}-\d\d-\d\d \d\d:\d\dZ +- +yes +the deploy/);
  // The description is whole once the wrapped pieces of its column are put together.
  const at = lines[0]!.indexOf('DESCRIPTION');
  const pieces = lines.slice(2).map((l) => l.slice(at).trim());
  assert.ok(pieces.length > 1, 'the description was wrapped');
  assert.equal(pieces.join(' ').replace(/\s+/g, ''), description.replace(/\s+/g, ''));
});

test('audit on an 80-column terminal: every row fits', { timeout: 120_000 }, async (t) => {
  if (!terminalOrSkip(t)) return;
  const v = await freshVault();
  t.after(v.cleanup);
  for (const name of ['A_RATHER_LONG_SECRET_NAME_FOR_THE_TABLE', 'B']) assert.equal((await runInProcess(['put', name], { env: v.env, input: 'x' })).status, 0);
  assert.equal((await runInProcess(['exec', '--only', 'A_RATHER_LONG_SECRET_NAME_FOR_THE_TABLE,B', '--', 'true'], { env: v.env })).status, 0);
  const term = Terminal.start([process.execPath, BIN, 'audit', '--no-color'], { ...terminalEnv(v.dir), ...v.env }, v.dir, { columns: 80, rows: 40 });
  t.after(() => term.close());
  assert.equal(await term.exitStatus(), 0, term.screen());
  const lines = term.raw().replace(/\r/g, '').split('\n').filter((l) => l.length > 0);
  assert.match(lines[0]!, /^SEQ +TIME +OP +SECRET +VERSION +OUTCOME +ACTOR +DETAIL/);
  for (const line of lines) assert.ok(line.length <= 80, `wider than 80 columns: ${JSON.stringify(line)}`);
  assert.ok(lines.some((l) => /^\d+ +\d{4}-\d\d-\d\d/.test(l) && / exec /.test(l)), term.raw());
});

test('colour on a terminal through chalk: the error label in red; none with NO_COLOR or --no-color', { timeout: 120_000 }, async (t) => {
  if (!terminalOrSkip(t)) return;
  const v = await freshVault();
  t.after(v.cleanup);
  const run = async (args: string[], extra: Record<string, string> = {}): Promise<string> => {
    const term = Terminal.start([process.execPath, BIN, ...args], { ...terminalEnv(v.dir), ...v.env, ...extra }, v.dir);
    t.after(() => term.close());
    assert.equal(await term.exitStatus(), 3, term.screen());
    return term.raw();
  };
  assert.equal(await run(['get', 'NOPE']), 'vault: \u001b[31merror:\u001b[39m no secret default/NOPE\r\nvault: \u001b[2mhint:\u001b[22m vault list shows the stored names\r\n');
  assert.equal(await run(['get', 'NOPE'], { NO_COLOR: '1' }), 'vault: error: no secret default/NOPE\r\nvault: hint: vault list shows the stored names\r\n');
  assert.equal(await run(['get', 'NOPE', '--no-color']), 'vault: error: no secret default/NOPE\r\nvault: hint: vault list shows the stored names\r\n');
});
