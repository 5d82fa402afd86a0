import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { promises as fsp, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { baseEnv, BIN, freshVault, PASSPHRASE, runVault } from '../helpers/cli.js';
import { seed } from '../helpers/seed.js';

/**
 * The launcher (bin/vault.js) against two local attackers: one that sends SIGUSR1 to open
 * node's inspector, and the child of `vault exec` reading /proc/$PPID/environ.
 */

const linux = process.platform === 'linux';

/** The launcher's own node flags, read from its shebang, so the test runs vault as the shell would. */
function shebangFlags(): string[] {
  const first = readFileSync(BIN, 'utf8').split('\n')[0]!;
  const m = /^#!\/usr\/bin\/env -S node (.*) --$/.exec(first);
  assert.ok(m, `unexpected shebang: ${first}`);
  return m[1]!.split(' ');
}

function spawnVault(args: string[], env: Record<string, string>): ChildProcess & { stderrText: () => string } {
  const child = spawn(process.execPath, [...shebangFlags(), '--', BIN, ...args], { env: { ...baseEnv(env.HOME ?? '/tmp'), ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout!.resume();
  return Object.assign(child, { stderrText: () => stderr });
}

function ended(child: ChildProcess): Promise<[number | null, NodeJS.Signals | null]> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve([child.exitCode, child.signalCode]);
  return new Promise((resolve) => child.once('close', (c, s) => resolve([c, s])));
}

/** TCP ports on which process `pid` has a listening socket (from /proc: its socket inodes in the LISTEN table). */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]!);
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    return []; // the process is gone
  }
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is HEX_IP:HEX_PORT; st 0A is LISTEN; inode is field 10.
      if (f.length > 9 && f[3] === '0A' && inodes.has(f[9]!)) ports.push(parseInt(f[1]!.split(':')[1]!, 16));
    }
  }
  return ports;
}

/** Resolves with the connect error code for 127.0.0.1:9229, or 'connected'. */
function probe9229(): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: 9229 });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

/** What node may print when a SIGUSR1 lands before the launcher's first line: the inspector failed to start. */
function assertNoInspector(stderr: string, expected: string): void {
  assert.doesNotMatch(stderr, /Debugger listening|ws:\/\//);
  assert.equal(stderr.replace(/^Starting inspector on ff02::1:9229 failed: [a-z ]+\n/gm, ''), expected);
}

test('the shebang points the inspector at an address nothing can listen on (runVault uses the same flags)', () => {
  assert.deepEqual(shebangFlags(), ['--inspect-port=[ff02::1]:9229']);
  assert.match(readFileSync(new URL('../helpers/cli.js', import.meta.url), 'utf8'), /'--inspect-port=\[ff02::1\]:9229', '--', BIN/);
});

test('SIGUSR1 outside exec is ignored: the command finishes normally and no inspector opens', { skip: !linux }, async () => {
  const v = await freshVault();
  try {
    const fifo = join(v.dir, 'value.fifo');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    const child = spawnVault(['put', 'FROM_FIFO', '--from-file', fifo], { ...v.env, HOME: v.dir });
    // The FIFO opens for writing once vault opens it for reading: vault's JavaScript is running.
    const writer = await fsp.open(fifo, 'w');
    for (let i = 0; i < 3; i++) {
      process.kill(child.pid!, 'SIGUSR1');
      await sleep(100);
    }
    assert.deepEqual(listeningPorts(child.pid!), []);
    assert.equal(await probe9229(), 'ECONNREFUSED');
    await writer.writeFile('fifo value');
    await writer.close();
    assert.deepEqual(await ended(child), [0, null]);
    assert.equal(child.stderrText(), 'stored default/FROM_FIFO version 1\n');
    const get = await runVault(['get', 'FROM_FIFO'], { env: v.env });
    assert.equal(get.out, 'fifo value');
  } finally {
    v.cleanup();
  }
});

test('SIGUSR1 from the first instant of a run on never opens an inspector', { skip: !linux }, async () => {
  const v = await freshVault();
  try {
    for (const delay of [0, 1, 3, 10, 30]) {
      // `put` waits for stdin, which stays open until the burst is over. A name per delay: an
      // earlier run that outlived its burst stored its own secret, so each run stores version 1.
      const name = `BURST_${delay}`;
      const child = spawnVault(['put', name], { ...v.env, HOME: v.dir });
      if (delay > 0) await sleep(delay);
      const seen = new Set<number>();
      for (let i = 0; i < 40 && child.exitCode === null && child.signalCode === null; i++) {
        try {
          process.kill(child.pid!, 'SIGUSR1');
        } catch {
          break; // already gone
        }
        await sleep(i < 10 ? 2 : 25);
        for (const port of listeningPorts(child.pid!)) seen.add(port);
      }
      const refused = await probe9229();
      // A vault with an open inspector must not be left waiting on its stdin.
      if (seen.size > 0) child.kill('SIGKILL');
      assert.deepEqual([...seen], [], `delay ${delay}: vault listened on ${[...seen].join(', ')}`);
      assert.equal(refused, 'ECONNREFUSED');
      child.stdin!.end('burst value');
      const [status, signal] = await ended(child);
      // A signal that arrives before node has set up its own handler kills the process (the
      // default action): nothing is read or opened. Otherwise the command runs to its end.
      if (signal !== null) {
        assert.equal(signal, 'SIGUSR1');
        assertNoInspector(child.stderrText(), '');
      } else {
        assert.equal(status, 0, child.stderrText());
        assertNoInspector(child.stderrText(), `stored default/${name} version 1\n`);
      }
    }
  } finally {
    v.cleanup();
  }
});

test('inside exec, SIGUSR1 still reaches the child (several times) and no inspector opens', { skip: !linux }, async () => {
  const v = await freshVault();
  try {
    await seed(v, { PLAIN: 'p1' });
    const counter = join(v.dir, 'count.cjs');
    writeFileSync(
      counter,
      `let n = 0; process.on('SIGUSR1', () => { n++; process.stdout.write('usr1 ' + n + '\\n'); if (n === 3) process.exit(0); });
       process.stdout.write('ready\\n'); setInterval(() => {}, 1000);`,
    );
    const child = spawn(process.execPath, [...shebangFlags(), '--', BIN, 'exec', '--', process.execPath, counter], {
      env: { ...baseEnv(v.dir), ...v.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const lines = (n: number): Promise<void> =>
      new Promise((resolve) => {
        const check = (): void => {
          if (out.split('\n').length > n) resolve();
          else child.stdout.once('data', (c: Buffer) => ((out += c.toString()), check()));
        };
        check();
      });
    await lines(1);
    for (let i = 1; i <= 3; i++) {
      process.kill(child.pid!, 'SIGUSR1');
      await lines(i + 1);
      assert.deepEqual(listeningPorts(child.pid!), []);
    }
    assert.deepEqual(await ended(child), [0, null]);
    assert.equal(out, 'ready\nusr1 1\nusr1 2\nusr1 3\n');
    assert.equal(stderr, '');
  } finally {
    v.cleanup();
  }
});

/** A vault with TOKEN and a master key; the key as printed by `vault key add`. */
async function withMasterKey(): Promise<Awaited<ReturnType<typeof freshVault>> & { key: string }> {
  const v = await freshVault();
  await seed(v, { TOKEN: 's3cret-token' });
  const add = await runVault(['key', 'add', '--label', 'ci'], { env: v.env });
  assert.equal(add.status, 0, add.stderr);
  const key = add.out.trim();
  assert.match(key, /^vault1-[A-Za-z0-9_-]{43}$/);
  return { ...v, key };
}

/** The child reads its parent's (vault's) environment and command line from /proc. */
const SNOOP = 'tr "\\0" "\\n" < /proc/$PPID/environ; echo "--- cmdline"; tr "\\0" "\\n" < /proc/$PPID/cmdline; echo "--- child"; echo "TOKEN=$TOKEN"';

for (const variable of ['VAULT_MASTER_KEY', 'VAULT_PASSPHRASE'] as const) {
  test(`the exec child cannot read ${variable} from /proc/$PPID/environ; it still gets its secret`, { skip: !linux }, async () => {
    const v = await withMasterKey();
    try {
      const secret = variable === 'VAULT_MASTER_KEY' ? v.key : PASSPHRASE;
      const r = await runVault(['exec', '--', 'sh', '-c', SNOOP], { env: { VAULT_PATH: v.path, [variable]: secret, MARK_VISIBLE: 'here' } });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, '');
      const [environ, rest] = r.out.split('--- cmdline\n') as [string, string];
      const [cmdline, child] = rest.split('--- child\n') as [string, string];
      // It did read vault's environment: the other variables are there.
      assert.ok(environ.split('\n').includes(`VAULT_PATH=${v.path}`), environ);
      assert.ok(environ.split('\n').includes('MARK_VISIBLE=here'), environ);
      assert.ok(!environ.split('\n').some((l) => l.startsWith(`${variable}=`) && l.length > variable.length + 1), environ);
      assert.ok(!r.out.includes(secret));
      if (variable === 'VAULT_MASTER_KEY') assert.ok(!r.out.includes(v.key.slice(7)));
      else for (const word of PASSPHRASE.split(' ')) assert.ok(!r.out.includes(word), word);
      assert.ok(cmdline.includes('exec\n'), cmdline);
      assert.equal(child, 'TOKEN=s3cret-token\n');
    } finally {
      v.cleanup();
    }
  });
}
