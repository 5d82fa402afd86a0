import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BIN, freshVault, PASSPHRASE, runCommand, runInProcess, type RunResult, runVault, tempDir } from '../helpers/cli.js';
import { expire, seed } from '../helpers/seed.js';
import { auditLog } from '../helpers/sqlite.js';

/** A child that prints its argv (after the script) and its whole environment as JSON. */
const SHOW = `process.stdout.write(JSON.stringify({ argv: process.argv.slice(2), env: process.env }));`;

/** Traps a signal: writes its name to the marker file and exits 0. Says "ready" once trapped. */
const TRAP = `
const fs = require('fs');
const [marker, ...signals] = process.argv.slice(2);
for (const s of signals) process.on(s, () => { fs.writeFileSync(marker, s); process.exit(0); });
process.stdout.write('ready\\n');
setInterval(() => {}, 1000);
`;

const TRICKY = `it's "quoted" $HOME \`date\` \\ back\\slash\nline two\n\ttab ünïcödé 'single' $(rm -rf /) !`;

type Fixture = Awaited<ReturnType<typeof freshVault>>;

function script(v: Fixture, name: string, body: string): string {
  const path = join(v.dir, name);
  writeFileSync(path, body);
  return path;
}

function shown(r: RunResult): { argv: string[]; env: Record<string, string> } {
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.out) as { argv: string[]; env: Record<string, string> };
}

async function withVault(secrets: Record<string, string | Buffer>, fn: (v: Fixture) => Promise<void>): Promise<void> {
  const v = await freshVault();
  try {
    await seed(v, secrets);
    await fn(v);
  } finally {
    v.cleanup();
  }
}

test('exec passes exact values and exact argv; flags after -- reach the child, not vault', async () => {
  await withVault({ TRICKY, PLAIN: 'plain-value', 'other/ELSEWHERE': 'not injected' }, async (v) => {
    const show = script(v, 'show.cjs', SHOW);
    const args = ['-n', '--json', '--only', 'X', '--ns', 'nope', '', 'a b', '$HOME', '--', '"q"', "it's", '\\', 'ünï'];
    const r = await runVault(['--ns', 'default', 'exec', '--', process.execPath, show, ...args], { env: v.env });
    const { argv, env } = shown(r);
    assert.deepEqual(argv, args);
    assert.equal(env.TRICKY, TRICKY);
    assert.equal(env.PLAIN, 'plain-value');
    assert.equal(env.ELSEWHERE, undefined);
    assert.equal(r.stderr, '');
  });
});

test('exec without -- runs the operands as the command', async () => {
  await withVault({ PLAIN: 'p1' }, async (v) => {
    const show = script(v, 'show.cjs', SHOW);
    const { argv, env } = shown(await runVault(['exec', process.execPath, show, 'x', 'y'], { env: v.env }));
    assert.deepEqual(argv, ['x', 'y']);
    assert.equal(env.PLAIN, 'p1');
  });
});

test('exec keeps a -- that comes after the command words', async () => {
  await withVault({ PLAIN: 'p1' }, async (v) => {
    const show = script(v, 'show.cjs', SHOW);
    const { argv } = shown(await runVault(['exec', process.execPath, show, 'run', '--', '--port', '3'], { env: v.env }));
    assert.deepEqual(argv, ['run', '--', '--port', '3']);
  });
});

test('exec returns the exit status of the child: 0, 42, 143 for SIGTERM, 127, 126', async () => {
  await withVault({ PLAIN: 'p1' }, async (v) => {
    const notExecutable = script(v, 'plain.txt', 'echo hi\n');
    chmodSync(notExecutable, 0o644);
    const cases: Array<[string[], number, string]> = [
      [[process.execPath, '-e', 'process.exit(0)'], 0, ''],
      [[process.execPath, '-e', 'process.exit(42)'], 42, ''],
      [[process.execPath, '-e', "process.kill(process.pid, 'SIGTERM'); setTimeout(() => {}, 5000)"], 143, ''],
      [['no-such-command-vault-test'], 127, 'vault: error: command not found: no-such-command-vault-test\n'],
      [[notExecutable], 126, `vault: error: cannot run ${notExecutable}: permission denied\n`],
    ];
    for (const [command, status, stderr] of cases) {
      const r = await runVault(['exec', '--', ...command], { env: v.env });
      assert.equal(r.stderr, stderr, command.join(' '));
      assert.equal(r.status, status, command.join(' '));
      assert.equal(r.out, '');
    }
  });
});

test('exec --command runs a shell string on request, with arguments as $1…', async () => {
  await withVault({ PLAIN: 'p1' }, async (v) => {
    const r = await runVault(['exec', '--command', 'printf "%s|%s|%s" "$PLAIN" "$1" "$2" && exit 3', '--', 'a b', '$c'], { env: v.env });
    assert.equal(r.out, 'p1|a b|$c');
    assert.equal(r.status, 3);
  });
});

test('exec passes stdin through to the child', async () => {
  await withVault({ PLAIN: 'p1' }, async (v) => {
    const r = await runVault(['exec', '--', process.execPath, '-e', 'process.stdin.pipe(process.stdout)'], { env: v.env, input: 'line 1\nline 2\n' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.out, 'line 1\nline 2\n');
  });
});

for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1'] as const) {
  test(`a ${signal} sent to vault reaches a child that traps it; vault exits with the child's status`, async () => {
    await withVault({ PLAIN: 'p1' }, async (v) => {
      const trap = script(v, 'trap.cjs', TRAP);
      const marker = join(v.dir, 'marker');
      const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: v.dir, LANG: 'C.UTF-8', ...v.env };
      const child = spawn(process.execPath, [BIN, 'exec', '--', process.execPath, trap, marker, signal], { env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      child.kill(signal);
      const [status, sig] = await new Promise<[number | null, string | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
      assert.equal(stderr, '');
      assert.equal(sig, null);
      assert.equal(status, 0);
      assert.equal(readFileSync(marker, 'utf8'), signal);
    });
  });
}

test('Ctrl-C on a terminal reaches the child once, from the terminal, and vault does not die of it', async (t) => {
  if (!existsSync('/usr/bin/script')) return t.skip('script(1) is not installed');
  await withVault({ PLAIN: 'p1' }, async (v) => {
    const counter = script(
      v,
      'count.cjs',
      `const fs = require('fs'); let n = 0;
       process.on('SIGINT', () => { n++; if (n === 1) setTimeout(() => { fs.writeFileSync(process.argv[2], String(n)); process.exit(7); }, 500); });
       process.stdout.write('ready\\n'); setInterval(() => {}, 1000);`,
    );
    const marker = join(v.dir, 'marker');
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: v.dir, LANG: 'C.UTF-8', TERM: 'dumb', ...v.env };
    const quote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`;
    const line = ['exec', process.execPath, BIN, 'exec', '--', process.execPath, counter, marker].map(quote).join(' ');
    // script(1) gives vault a terminal; the ^C written to it becomes SIGINT for the foreground group.
    const child = spawn('/usr/bin/script', ['-qefc', line, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    await new Promise<void>((resolve) =>
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('ready')) resolve();
      }),
    );
    child.stdin.write('\u0003');
    const status = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    assert.equal(status, 7, out);
    assert.equal(readFileSync(marker, 'utf8'), '1');
  });
});

test('exec --pristine keeps only the secrets and PATH, HOME, USER, LANG, TERM', async () => {
  await withVault({ PLAIN: 'p1', OTHER: 'o1' }, async (v) => {
    const show = script(v, 'show.cjs', SHOW);
    const r = await runVault(['exec', '--pristine', '--', process.execPath, show], { env: { ...v.env, FOO: 'bar', TERM: 'xterm', USER: 'someone', VAULT_NS: 'default' } });
    const { env } = shown(r);
    assert.deepEqual(Object.keys(env).sort(), ['HOME', 'LANG', 'OTHER', 'PATH', 'PLAIN', 'TERM', 'USER']);
    assert.equal(env.TERM, 'xterm');
    assert.equal(env.USER, 'someone');
  });
});

test('exec --only and --prefix leave out the other secrets; an unknown --only name is 3 and nothing runs', async () => {
  await withVault({ APP_A: 'a1', APP_B: 'b1', DB_URL: 'd1' }, async (v) => {
    const show = script(v, 'show.cjs', SHOW);
    const only = shown(await runVault(['exec', '--only', 'APP_B,DB_URL', '--', process.execPath, show], { env: v.env })).env;
    assert.deepEqual([only.APP_A, only.APP_B, only.DB_URL], [undefined, 'b1', 'd1']);
    const prefix = shown(await runVault(['exec', '--prefix', 'APP_', '--', process.execPath, show], { env: v.env })).env;
    assert.deepEqual([prefix.APP_A, prefix.APP_B, prefix.DB_URL], ['a1', 'b1', undefined]);
    const marker = join(v.dir, 'ran');
    const missing = await runInProcess(['exec', '--only', 'APP_A,NOPE', '--', process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, '')`], {
      env: v.env,
    });
    assert.equal(missing.status, 3);
    assert.equal(missing.stderr, 'vault: error: no secret default/NOPE\nvault: hint: vault list shows the stored names\n');
    assert.equal(existsSync(marker), false);
    const both = await runInProcess(['exec', '--only', 'A', '--prefix', 'B', '--', 'true'], { env: v.env });
    assert.equal(both.status, 2);
    assert.equal(both.stderr, 'vault: error: --only and --prefix cannot be used together\n');
  });
});

test('unlock variables never reach the child; VAULT_PATH and others do', async () => {
  await withVault({ PLAIN: 'p1' }, async (v) => {
    const show = script(v, 'show.cjs', SHOW);
    const file = join(v.dir, 'pass');
    writeFileSync(file, `${PASSPHRASE}\n`);
    const env = { ...v.env, VAULT_PASSPHRASE_FILE: file, VAULT_NEW_PASSPHRASE: 'new', VAULT_NEW_PASSPHRASE_FILE: file, KEEP: 'kept' };
    for (const pristine of [[], ['--pristine']]) {
      const child = shown(await runVault(['exec', ...pristine, '--', process.execPath, show], { env })).env;
      for (const name of ['VAULT_PASSPHRASE', 'VAULT_PASSPHRASE_FILE', 'VAULT_NEW_PASSPHRASE', 'VAULT_NEW_PASSPHRASE_FILE', 'VAULT_MASTER_KEY', 'VAULT_MASTER_KEY_FILE']) {
        assert.equal(child[name], undefined, name);
      }
      assert.equal(child.PLAIN, 'p1');
      if (pristine.length === 0) assert.deepEqual([child.VAULT_PATH, child.KEEP], [v.path, 'kept']);
    }
  });
});

test('a secret wins over an inherited variable, with a warning unless --quiet', async () => {
  await withVault({ PLAIN: 'p1', SAME: 's1' }, async (v) => {
    const show = script(v, 'show.cjs', SHOW);
    const env = { ...v.env, PLAIN: 'inherited', SAME: 's1' };
    const r = await runVault(['exec', '--', process.execPath, show], { env });
    assert.equal(shown(r).env.PLAIN, 'p1');
    assert.equal(r.stderr, 'vault: warning: PLAIN overrides a variable from the environment\n');
    const quiet = await runVault(['--quiet', 'exec', '--', process.execPath, show], { env });
    assert.equal(shown(quiet).env.PLAIN, 'p1');
    assert.equal(quiet.stderr, '');
  });
});

test('an expired secret stops exec with 9 unless --allow-expired', async () => {
  await withVault({ PLAIN: 'p1', OLD: 'o1' }, async (v) => {
    await expire(v, 'default', 'OLD');
    const show = script(v, 'show.cjs', SHOW);
    const r = await runVault(['exec', '--', process.execPath, show], { env: v.env });
    assert.equal(r.status, 9);
    assert.equal(r.out, '');
    assert.equal(
      r.stderr,
      'vault: error: secret default/OLD expired at 1970-01-01T00:00:00.001Z\nvault: hint: store a new value with vault rotate, or pass --allow-expired\n',
    );
    assert.equal(shown(await runVault(['exec', '--allow-expired', '--', process.execPath, show], { env: v.env })).env.OLD, 'o1');
    assert.equal(shown(await runVault(['exec', '--only', 'PLAIN', '--', process.execPath, show], { env: v.env })).env.PLAIN, 'p1');
    const entries = auditLog(v.path).filter((e) => e.op === 'exec');
    assert.deepEqual(
      entries.map((e) => e.outcome),
      ['expired', 'ok', 'ok'],
    );
  });
});

test('a value with a NUL byte is refused by exec with 2, naming the secret; nothing runs', async () => {
  await withVault({ PLAIN: 'p1', BIN: Buffer.from([0x61, 0x00, 0x62]) }, async (v) => {
    const marker = join(v.dir, 'ran');
    const r = await runInProcess(['exec', '--', process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, '')`], { env: v.env });
    assert.equal(r.status, 2);
    assert.equal(r.stderr, 'vault: error: secret default/BIN holds a NUL byte, which an environment variable cannot carry\nvault: hint: vault get prints it as exact bytes\n');
    assert.equal(existsSync(marker), false);
    assert.equal(auditLog(v.path).at(-1)?.outcome, 'denied');
  });
});

test('the audit entry names the command basename, its argument count and the injected names, never the arguments', async () => {
  await withVault({ PLAIN: 'p1', OTHER: 'o1' }, async (v) => {
    const r = await runVault(['exec', '--', process.execPath, '-e', 'process.exit(0)', 'secret-arg'], { env: v.env });
    assert.equal(r.status, 0, r.stderr);
    const last = auditLog(v.path).at(-1)!;
    assert.deepEqual(last, { op: 'exec', ns: 'default', name: null, outcome: 'ok', detail: { command: 'node', argc: 3, names: ['OTHER', 'PLAIN'] } });
  });
});

test('--env-file: plain values and vault:// references, file values win over the namespace, later files win', async () => {
  await withVault({ PLAIN: 'p1', DB: 'ns-db', 'prod/DB': 'prod-db-v1', 'prod/TOKEN': 'tok' }, async (v) => {
    await seed(v, { 'prod/DB': 'prod-db-v2' });
    const show = script(v, 'show.cjs', SHOW);
    const one = script(v, 'one.env', '# comment\nexport MODE=development\nDB=vault://prod/DB@1\nTOKEN="vault://prod/TOKEN"\nLOCAL=vault://PLAIN\n');
    const two = script(v, 'two.env', 'MODE=production\nLATEST=vault://prod/DB\n');
    const { env } = shown(await runVault(['exec', '--env-file', one, '--env-file', two, '--', process.execPath, show], { env: v.env }));
    assert.deepEqual(
      [env.PLAIN, env.DB, env.TOKEN, env.LOCAL, env.MODE, env.LATEST],
      ['p1', 'prod-db-v1', 'tok', 'p1', 'production', 'prod-db-v2'],
    );
    const last = auditLog(v.path).at(-1)!;
    assert.deepEqual(last.detail, { command: 'node', argc: 1, names: ['DB', 'PLAIN'], refs: ['prod/DB@1', 'prod/TOKEN', 'default/PLAIN', 'prod/DB'] });
  });
});

test('--env-file: an unresolvable reference is 3 and the child is not started; a bad line is 2 with its line number', async () => {
  await withVault({ PLAIN: 'p1' }, async (v) => {
    const marker = join(v.dir, 'ran');
    const run = ['--', process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, '')`];
    const missing = script(v, 'missing.env', 'A=1\nB=vault://prod/NOPE\n');
    const r = await runInProcess(['exec', '--env-file', missing, ...run], { env: v.env });
    assert.equal(r.status, 3);
    assert.equal(r.stderr, 'vault: error: no secret prod/NOPE\nvault: hint: vault list shows the stored names\n');
    const version = script(v, 'version.env', 'B=vault://PLAIN@9\n');
    const rv = await runInProcess(['exec', '--env-file', version, ...run], { env: v.env });
    assert.equal(rv.status, 3);
    assert.equal(rv.stderr, 'vault: error: secret default/PLAIN has no version 9\nvault: hint: vault history default/PLAIN lists its versions\n');
    const bad = script(v, 'bad.env', 'A=1\n\nthis line is not an entry\nB=2\n');
    const rb = await runInProcess(['exec', '--env-file', bad, ...run], { env: v.env });
    assert.equal(rb.status, 2);
    assert.equal(rb.stderr.split('\n')[0], `vault: error: ${bad}:3: not a NAME=VALUE line`);
    const malformed = script(v, 'malformed.env', 'A=vault://bad-Name!\n');
    const rm = await runInProcess(['exec', '--env-file', malformed, ...run], { env: v.env });
    assert.equal(rm.status, 2);
    // The message never quotes the reference: a malformed one may be a pasted value.
    assert.equal(rm.stderr.split('\n')[0], `vault: error: ${malformed}:1: the value of A is not a valid vault:// reference`);
    assert.equal(existsSync(marker), false);
  });
});

test('--mask hides a value written in two writes 100 ms apart; every other byte passes unchanged', async () => {
  const value = 'sk_live_0123456789abcdef';
  await withVault({ TOKEN: value, SHORT: 'abc' }, async (v) => {
    const writer = script(
      v,
      'writer.cjs',
      `const t = process.env.TOKEN;
       process.stdout.write(Buffer.from([0xff, 0x00, 0x80]));
       process.stdout.write('token=' + t.slice(0, 10));
       setTimeout(() => {
         process.stdout.write(t.slice(10) + ' abc done\\n');
         process.stderr.write('err:' + t + ':' + t.slice(0, 5));
       }, 100);`,
    );
    const r = await runVault(['exec', '--mask', '--', process.execPath, writer], { env: v.env });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout, Buffer.concat([Buffer.from([0xff, 0x00, 0x80]), Buffer.from('token=***** abc done\n')]));
    assert.equal(r.stderr, 'err:*****:sk_li');
    assert.equal(r.out.includes(value), false);
  });
});

test('--mask passes the exit status through after all output', async () => {
  await withVault({ TOKEN: 'abcdefgh' }, async (v) => {
    const r = await runVault(['exec', '--mask', '--', process.execPath, '-e', "process.stdout.write('x'.repeat(200000) + 'abcdefgh' + 'abcd'); process.exitCode = 5"], { env: v.env });
    assert.equal(r.status, 5);
    assert.equal(r.out, 'x'.repeat(200000) + '*****abcd');
  });
});

test('exec with no command is a usage error', async () => {
  await withVault({ PLAIN: 'p1' }, async (v) => {
    const r = await runInProcess(['exec'], { env: v.env });
    assert.equal(r.status, 2);
    assert.equal(r.stderr, 'vault: error: no command to run\nvault: hint: vault exec [flags] -- CMD [ARGS…], or vault exec [flags] --command "STRING"\n');
  });
});

test('the launcher itself (its shebang runs node --) reports a missing --env-file as vault exit 2, not node exit 9', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const r = await runCommand(BIN, ['exec', '--env-file', join(dir, 'absent.env'), '--', 'true'], { env: { VAULT_PATH: join(dir, 'v.db') } });
    assert.equal(r.status, 2);
    assert.equal(r.stderr, `vault: error: cannot read env file ${join(dir, 'absent.env')}: no such file\n`);
    assert.equal(r.out, '');
  } finally {
    cleanup();
  }
});
