import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BIN, ROOT, runCommand, runInProcess, runVault } from '../helpers/cli.js';
import { auditOf, setup, spec, startMcp, VALUE, withMcp } from '../helpers/mcp.js';
import { exec, fileBytes } from '../helpers/sqlite.js';

/**
 * vault mcp driven by the SDK's own Client over stdio, against a real vault file: the child
 * gets the value, the agent never does; every limit of a grant; every call audited.
 */

const PRINT = `const fs=require('fs');fs.writeFileSync(process.argv[1], process.env.API_KEY ?? 'unset');process.stdout.write('out:'+process.env.API_KEY+' port:'+process.env.PORT+'\\n');process.stderr.write('err:'+process.env.API_KEY+'\\n')`;

function procStat(pid: number): string | null {
  return existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : null;
}

/** The process exists and is not a zombie. */
function running(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== null && !/^\d+ \([^)]*\) Z /.test(stat);
}

test('run_command: the child gets the real value, the result holds none of it; a not-secret value is shown; the use is counted and audited', async () => {
  await withMcp([spec('agent')], 'agent', async (m, v) => {
    const tools = await m.client.listTools();
    assert.deepEqual(tools.tools.map((t) => t.name), ['list_secrets', 'run_command', 'http_request', 'request_secret']);
    const seen = join(v.dir, 'seen.txt');
    const r = await m.call('run_command', { command: [process.execPath, '-e', PRINT, seen], reason: 'check the key works' });
    assert.equal(r.isError, false, r.text);
    assert.equal(readFileSync(seen, 'utf8'), VALUE, 'the child had the real value');
    assert.equal(r.json.exit_code, 0);
    assert.equal(r.json.stdout, 'out:***** port:8080\n');
    assert.equal(r.json.stderr, 'err:*****\n');
    assert.deepEqual(r.json.injected, ['API_KEY', 'PORT']);
    assert.ok(!r.text.includes(VALUE));
    const list = await runInProcess(['grant', 'list', '--json'], { env: v.env });
    assert.equal(JSON.parse(list.out)[0].uses, 1);
    const entries = (await auditOf(v, 'agent')).filter((e) => e.op === 'mcp');
    assert.equal(entries.length, 1);
    assert.equal(entries[0]!.outcome, 'ok');
    assert.deepEqual(entries[0]!.detail, { grant: 'agent', tool: 'run_command', program: process.execPath, argc: 3, reason: 'check the key works', secrets: ['default/API_KEY', 'default/PORT'] });
    assert.ok(!fileBytes(v.path).includes(Buffer.from(VALUE)), 'no value in the vault file in clear');
  });
});

test('list_secrets gives names and metadata, never values; request_secret gives the command and records the request', async () => {
  await withMcp([spec('agent')], 'agent', async (m, v) => {
    const r = await m.call('list_secrets', {});
    assert.equal(r.isError, false);
    assert.deepEqual(r.json.map((s: any) => [s.name, s.ns, s.version, s.expires, s.description]), [
      ['default/API_KEY', 'default', 1, null, null],
      ['default/PORT', 'default', 1, null, null],
    ]);
    assert.ok(!r.text.includes(VALUE) && !r.text.includes('8080'));
    const q = await m.call('request_secret', { name: 'STRIPE_KEY', description: 'Stripe test key', reason: 'to run the payment tests' });
    assert.equal(q.isError, false);
    assert.equal(q.json.command, 'vault put default/STRIPE_KEY');
    const bad = await m.call('request_secret', { name: 'STRIPE_KEY', description: 'x', reason: 'y', value: 'sk_test_123' });
    assert.equal(bad.isError, true);
    assert.equal(bad.text, 'refused: unknown argument value');
    const entries = (await auditOf(v, 'agent')).filter((e) => e.op === 'mcp');
    assert.deepEqual(entries.map((e) => [e.detail.tool, e.outcome]), [['list_secrets', 'ok'], ['request_secret', 'ok'], ['request_secret', 'denied']]);
    assert.equal(entries[1]!.detail.requested, 'default/STRIPE_KEY');
    assert.ok(!JSON.stringify(entries).includes('sk_test_123'), 'a value an agent tried to pass is not recorded');
  });
});

test('an ungranted secret or program is refused, nothing runs, the refusal is audited, no use counted', async () => {
  await withMcp([spec('agent', { commands: ['node'] })], 'agent', async (m, v) => {
    const marker = join(v.dir, 'ran.txt');
    const r1 = await m.call('run_command', { command: ['node', '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x')`], secrets: ['DB_PASSWORD'], reason: 'need the db' });
    assert.deepEqual([r1.isError, r1.text], [true, 'refused: secret DB_PASSWORD is not granted to agent']);
    const r2 = await m.call('run_command', { command: ['sh', '-c', `echo x > ${marker}`], reason: 'try a shell' });
    assert.deepEqual([r2.isError, r2.text], [true, 'refused: program sh is not allowed by grant agent (allowed: node)']);
    const r3 = await m.call('run_command', { command: [process.execPath, '-e', '1'], reason: 'full path is not the granted name' });
    assert.equal(r3.isError, true);
    assert.equal(existsSync(marker), false, 'nothing ran');
    // without --reveal there is no get_secret tool at all: a protocol error, recorded
    await assert.rejects(m.client.callTool({ name: 'get_secret', arguments: { name: 'API_KEY', reason: 'show me' } }), /unknown tool get_secret/);
    const entries = (await auditOf(v, 'agent')).filter((e) => e.op === 'mcp');
    assert.deepEqual(entries.map((e) => [e.detail.tool, e.outcome]), [['run_command', 'denied'], ['run_command', 'denied'], ['run_command', 'denied'], ['get_secret', 'denied']]);
    assert.equal(entries[0]!.detail.refused, 'secret DB_PASSWORD is not granted to agent');
    assert.equal(entries[1]!.detail.program, 'sh');
    const list = await runInProcess(['grant', 'list', '--json'], { env: v.env });
    assert.equal(JSON.parse(list.out)[0].uses, 0);
  });
});

test('max-uses: the third use of a 2-use grant is refused, and the grant serves nothing more', async () => {
  await withMcp([spec('agent', { maxUses: 2 })], 'agent', async (m, v) => {
    for (let i = 0; i < 2; i++) {
      const r = await m.call('run_command', { command: [process.execPath, '-e', '1'], secrets: ['API_KEY'], reason: `use ${i}` });
      assert.equal(r.isError, false, r.text);
    }
    const r = await m.call('run_command', { command: [process.execPath, '-e', '1'], secrets: ['API_KEY'], reason: 'one more' });
    assert.deepEqual([r.isError, r.text], [true, 'refused: grant agent is used up (2 of 2 uses)']);
    const l = await m.call('list_secrets', {});
    assert.deepEqual([l.isError, l.text], [true, 'refused: grant agent is used up (2 of 2 uses)']);
    const list = await runInProcess(['grant', 'list', '--json'], { env: v.env });
    assert.equal(JSON.parse(list.out)[0].state, 'used-up');
    assert.equal(JSON.parse(list.out)[0].uses, 2);
  });
});

test('rate: a 2/min grant refuses the third use within the minute', async () => {
  await withMcp([spec('agent', { rate: 2 })], 'agent', async (m) => {
    for (let i = 0; i < 2; i++) assert.equal((await m.call('run_command', { command: [process.execPath, '-e', '1'], reason: 'r' })).isError, false);
    const r = await m.call('run_command', { command: [process.execPath, '-e', '1'], reason: 'r' });
    assert.equal(r.isError, true);
    assert.match(r.text, /^refused: grant agent is at its rate limit of 2 uses per minute; try again in [0-9]+s$/);
  });
});

test('an expired grant serves nothing; a grant removed while the server runs is refused at the next call', async () => {
  await withMcp([spec('old', { expiresAt: Date.now() - 1000 }), spec('agent')], 'old', async (m) => {
    const r = await m.call('list_secrets', {});
    assert.equal(r.isError, true);
    assert.match(r.text, /^refused: grant old expired at \d{4}-/);
  });
  await withMcp([spec('agent')], 'agent', async (m, v) => {
    assert.equal((await m.call('list_secrets', {})).isError, false);
    const rm = await runInProcess(['grant', 'rm', 'agent'], { env: v.env });
    assert.equal(rm.status, 0, rm.stderr);
    const r = await m.call('run_command', { command: [process.execPath, '-e', '1'], reason: 'r' });
    assert.deepEqual([r.isError, r.text], [true, 'refused: grant agent was removed']);
    const entries = (await auditOf(v, 'agent')).map((e) => [e.op, e.outcome, e.detail.tool ?? null]);
    assert.deepEqual(entries, [['grant-add', 'ok', null], ['mcp', 'ok', 'list_secrets'], ['grant-rm', 'ok', null], ['mcp', 'not-found', 'run_command']]);
  });
});

test('a grant edited in the file: refused at start (exit 7); edited while the server runs: a tool error, no value', async () => {
  const v = await setup([spec('agent', { maxUses: 1 })]);
  try {
    exec(v.path, `UPDATE grants SET max_uses = 1000 WHERE name = 'agent'`);
    const r = await runVault(['mcp', '--grant', 'agent'], { env: v.env, input: '' });
    assert.equal(r.status, 7, r.stderr);
    assert.equal(r.out, '');
    assert.equal(r.stderr.split('\n')[0], 'vault: error: grant agent failed its integrity check: its record was edited or rolled back');
  } finally {
    v.cleanup();
  }
  await withMcp([spec('agent', { maxUses: 5 })], 'agent', async (m, v2) => {
    assert.equal((await m.call('run_command', { command: [process.execPath, '-e', '1'], reason: 'r' })).isError, false);
    exec(v2.path, `UPDATE grants SET uses = 0 WHERE name = 'agent'`);
    const r = await m.call('run_command', { command: [process.execPath, '-e', 'console.log(process.env.API_KEY)'], reason: 'r' });
    assert.equal(r.isError, true);
    assert.equal(r.text, 'refused: grant agent failed its integrity check: its record was edited or rolled back');
  });
});

test('stray output never reaches the protocol stream; a flood is cut at 64 KiB; a child that never exits is killed with its group at the timeout', async () => {
  await withMcp([spec('agent')], 'agent', async (m, v) => {
    const flood = await m.call('run_command', { command: [process.execPath, '-e', `process.stdout.write('{"jsonrpc":"2.0"}\\n'.repeat(20000)); process.stderr.write(process.env.API_KEY.repeat(5000))`], reason: 'flood' });
    assert.equal(flood.isError, false, flood.text);
    assert.equal(flood.json.stdout.length, 65536);
    assert.equal(flood.json.stderr, '*****'.repeat(5000));
    assert.equal(flood.json.note, 'stdout cut at 65536 bytes');
    const pidFile = join(v.dir, 'pid');
    const hang = await m.call('run_command', { command: ['sh', '-c', `sleep 300 & echo $! > ${pidFile}; wait`], reason: 'hang', timeout_s: 2 });
    assert.equal(hang.isError, false, hang.text);
    assert.equal(hang.json.timed_out, true);
    assert.equal(hang.json.signal, 'SIGKILL');
    assert.equal(hang.json.note, 'killed after 2s (timeout_s)');
    const pid = Number(readFileSync(pidFile, 'utf8'));
    // SIGKILL is delivered when the grandchild next runs: it may still be exiting (state R, PF_EXITING) just after
    // the kill. Wait until it is gone or a zombie waiting for a reaper (a container's PID 1 may not reap).
    for (let k = 0; k < 100 && running(pid); k++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(running(pid), false, `the grandchild was killed with the group: ${procStat(pid)}`);
    // the stream is still good
    assert.equal((await m.call('list_secrets', {})).isError, false);
  });
});

test('malformed arguments and unknown tools: an error, never a crash, never a value; each audited', async () => {
  await withMcp([spec('agent', { hosts: ['127.0.0.1'] })], 'agent', async (m, v) => {
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ['run_command', { command: 'ls', reason: 'r' }, 'refused: argument command must be an array of strings'],
      ['run_command', { command: [], reason: 'r' }, 'refused: argument command must hold at least the program to run'],
      ['run_command', { command: ['ls'] }, 'refused: missing argument reason'],
      ['run_command', { command: ['ls'], reason: 'r', timeout_s: 'x' }, 'refused: argument timeout_s must be a number of seconds from 1 to 600'],
      ['http_request', { method: 'GET', url: 'http://127.0.0.1/', reason: 'r', body: 'x'.repeat(1024 * 1024 + 1) }, 'refused: argument body is larger than 1048576 bytes'],
      ['http_request', { method: 'BREW', url: 'http://127.0.0.1/', reason: 'r' }, 'refused: argument method must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS'],
      ['http_request', { method: 'GET', url: 'http://{{ vault://API_KEY }}/', reason: 'r' }, 'refused: argument url is not a valid absolute URL (a placeholder cannot stand in the host)'],
      ['list_secrets', { reason: 5 }, 'refused: argument reason must be a string'],
    ];
    for (const [tool, args, expected] of cases) {
      const r = await m.call(tool, args);
      assert.deepEqual([r.isError, r.text], [true, expected], tool);
    }
    await assert.rejects(m.client.callTool({ name: 'delete_everything', arguments: {} }), /unknown tool delete_everything/);
    assert.equal((await m.call('list_secrets', {})).isError, false, 'the server still answers');
    const entries = (await auditOf(v, 'agent')).filter((e) => e.op === 'mcp');
    assert.equal(entries.length, cases.length + 2);
    assert.deepEqual(entries.slice(0, -1).map((e) => e.outcome), Array(cases.length + 1).fill('denied'));
    assert.equal(entries[cases.length]!.detail.tool, 'delete_everything');
    assert.ok(!JSON.stringify(entries).includes(VALUE));
  });
});

test('get_secret exists only under --reveal, and counts as a use', async () => {
  await withMcp([spec('reader', { reveal: true })], 'reader', async (m, v) => {
    const tools = await m.client.listTools();
    assert.ok(tools.tools.some((t) => t.name === 'get_secret'));
    const r = await m.call('get_secret', { name: 'API_KEY', reason: 'configure the client' });
    assert.equal(r.isError, false);
    assert.deepEqual(r.json, { name: 'default/API_KEY', version: 1, encoding: 'utf8', value: VALUE });
    const list = await runInProcess(['grant', 'list', '--json'], { env: v.env });
    assert.equal(JSON.parse(list.out)[0].uses, 1);
    assert.equal(JSON.parse(list.out)[0].reveal, true);
  });
});

test('a vault that cannot be unlocked: vault mcp exits at start with the usual code and one message, stdout empty', async () => {
  const v = await setup([spec('agent')]);
  try {
    const locked = await runVault(['mcp', '--grant', 'agent'], { env: { VAULT_PATH: v.path, XDG_STATE_HOME: v.state }, input: '' });
    assert.equal(locked.status, 4, locked.stderr);
    assert.equal(locked.out, '');
    assert.match(locked.stderr, /^vault: error: /);
    const none = await runVault(['mcp', '--grant', 'nobody'], { env: v.env, input: '' });
    assert.deepEqual([none.status, none.out, none.stderr.split('\n')[0]], [3, '', 'vault: error: no grant nobody']);
    const missing = await runVault(['mcp'], { env: v.env, input: '' });
    assert.equal(missing.status, 2);
  } finally {
    v.cleanup();
  }
});


test('control for the lean test: vault mcp does load the SDK (the trace would see it), vault get does not', async () => {
  const v = await setup([spec('agent')]);
  try {
    const trace = join(v.dir, 'imports.txt');
    const r = await runCommand(process.execPath, ['--import', join(ROOT, 'test', 'fixtures', 'trace-imports.mjs'), BIN, 'mcp', '--grant', 'agent'], { env: { ...v.env, TRACE_IMPORTS_FILE: trace }, input: '' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.out, '');
    assert.ok(readFileSync(trace, 'utf8').includes('/node_modules/@modelcontextprotocol/sdk/'), 'the SDK loaded for mcp');
  } finally {
    v.cleanup();
  }
});

test('a client that goes away mid-call: the command it started is killed, not left running with the secret', async () => {
  const v = await setup([spec('agent')]);
  const m = await startMcp('agent', v.env);
  try {
    const pidFile = join(v.dir, 'pid');
    const call = m.client.callTool({ name: 'run_command', arguments: { command: ['sh', '-c', `echo $$ > ${pidFile}; exec sleep 300`], reason: 'long job', timeout_s: 600 } }).catch(() => null);
    for (let k = 0; k < 200 && !existsSync(pidFile); k++) await new Promise((r) => setTimeout(r, 50));
    const pid = Number(readFileSync(pidFile, 'utf8'));
    assert.equal(running(pid), true, 'the command is running');
    await m.close();
    await call;
    for (let k = 0; k < 200 && running(pid); k++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(running(pid), false, 'the command was killed when the server stopped');
  } finally {
    v.cleanup();
  }
});
