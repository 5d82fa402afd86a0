/**
 * How much does the audit entry cost `vault get`? Build, then run:
 *
 *   npx tsc -p . && node dist/scripts/bench-audit.js [--dir DIR] [--runs N]
 *
 * 1. Makes a vault in DIR (default: the OS temp dir) with a master-key slot (so unlocking
 *    costs an HKDF, not a passphrase KDF that would hide everything else), one secret, and
 *    10,000 audit entries written through the library in one transaction.
 * 2. In-process: times Vault.get with its audit entry, and with Vault.record replaced by a
 *    no-op on that one instance (the benchmark's own switch; the product has none). Rounds
 *    alternate so drift hits both alike; medians are reported.
 * 3. Appending: the time of 1,000 appends (inside one transaction, so no fsync) at the start
 *    of a log and at the end of a 10,000-entry log; flat means O(1) appends.
 * 4. Whole process: `node -e ""`, `vault get` and `vault get` without the audit write
 *    (dist/scripts/bench-audit-cli.js --no-audit), in an interleaved spawn loop and, when
 *    installed, with hyperfine (which adds CPU time); medians, and ratios to bare node
 *    measured in the same run.
 * 5. The query plans of the append's lookups, and SQLite's own step counts (sqlite3 .stats).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { LAST_ROW, LAST_SEALED } from '../src/store/audit.js';
import { Vault } from '../src/core/vault.js';
import { addMasterKey } from '../src/unlock/slots.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'bin', 'vault.js');
const NOAUDIT = join(ROOT, 'dist', 'scripts', 'bench-audit-cli.js');

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i !== -1 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const RUNS = Number(flag('--runs', '30'));
const base = mkdtempSync(join(flag('--dir', tmpdir()), 'vault-bench-'));
const path = join(base, 'vault.db');
const ref = { ns: 'default', name: 'BENCH_TOKEN' };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const fmt = (ms: number): string => (Math.abs(ms) < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(2)} ms`);

async function setup(): Promise<string> {
  const vault = await Vault.create(path, { passphrase: Buffer.from('bench passphrase'), kdf: { name: 'scrypt', params: { N: 2 ** 14, r: 8, p: 1 } } });
  try {
    const key = { text: (await addMasterKey(vault, 'bench')).key };
    vault.put(ref, Buffer.from('bench-value-0123456789'));
    vault.transact(() => {
      for (let k = 0; k < 10_000 - 2; k++) vault.record({ op: 'get', ns: 'default', name: `NAME_${k % 100}`, version: 1, outcome: 'ok' });
    });
    return key.text;
  } finally {
    vault.close();
  }
}

async function inProcess(masterKey: string): Promise<{ withAudit: number; without: number }> {
  const vault = Vault.open(path);
  try {
    const { parseMasterKey } = await import('../src/unlock/masterkey.js');
    await vault.unlockWithMasterKey(parseMasterKey(masterKey, 'bench'));
    const real = vault.record.bind(vault);
    const noop = (): void => {};
    const timings = { with: [] as number[], without: [] as number[] };
    for (let round = 0; round < 10; round++) {
      for (const mode of ['with', 'without'] as const) {
        vault.record = mode === 'with' ? real : noop;
        for (let k = 0; k < 100; k++) {
          const t = performance.now();
          const v = vault.get(ref);
          timings[mode].push(performance.now() - t);
          v.value.fill(0);
        }
      }
    }
    vault.record = real;
    return { withAudit: median(timings.with), without: median(timings.without) };
  } finally {
    vault.close();
  }
}

/** 1,000 appends in one transaction, on a fresh log and on the 10,000-entry one. */
async function appendCost(masterKey: string): Promise<{ small: number; large: number; entries: number }> {
  const { parseMasterKey } = await import('../src/unlock/masterkey.js');
  const smallPath = join(base, 'small.db');
  const small = await Vault.create(smallPath, { passphrase: Buffer.from('bench passphrase'), kdf: { name: 'scrypt', params: { N: 2 ** 14, r: 8, p: 1 } } });
  const large = Vault.open(path);
  await large.unlockWithMasterKey(parseMasterKey(masterKey, 'bench'));
  const time = (vault: Vault): number => {
    const t = performance.now();
    vault.transact(() => {
      for (let k = 0; k < 1000; k++) vault.record({ op: 'get', ns: 'default', name: 'X', version: 1, outcome: 'ok' });
    });
    return performance.now() - t;
  };
  try {
    const smalls: number[] = [];
    const larges: number[] = [];
    // Rolled back so every round starts from the same log size.
    for (let round = 0; round < 5; round++) {
      for (const [vault, out] of [[small, smalls], [large, larges]] as const) {
        vault.database.exec('SAVEPOINT bench');
        out.push(time(vault));
        vault.database.exec('ROLLBACK TO bench; RELEASE bench');
      }
    }
    const entries = (large.database.prepare('SELECT COUNT(*) AS n FROM audit').get() as { n: number }).n;
    return { small: median(smalls), large: median(larges), entries };
  } finally {
    small.close();
    large.close();
  }
}

interface Whole {
  tool: string;
  node: number;
  withAudit: number;
  without: number;
  /** mean user+system CPU ms per run (hyperfine only): shows whether a gap is work or waiting on fsync */
  cpu?: { node: number; withAudit: number; without: number };
}

/**
 * Whole-process timings. The spawn loop interleaves the three commands (rotating their order)
 * so that load from other processes hits all of them alike; hyperfine, when installed, runs
 * each command's batch in turn and also reports CPU time.
 */
function wholeProcess(masterKey: string): Whole[] {
  const env = { ...process.env, VAULT_PATH: path, VAULT_MASTER_KEY: masterKey };
  const commands: Array<[string, string[]]> = [
    ['node', [process.execPath, '-e', '']],
    ['with', [process.execPath, BIN, 'get', ref.name]],
    ['without', [process.execPath, NOAUDIT, '--no-audit', 'get', ref.name]],
  ];
  for (const [, argv] of commands) {
    const r = spawnSync(argv[0]!, argv.slice(1), { env });
    if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr.toString()}`);
  }
  const out: Whole[] = [];
  const times: Record<string, number[]> = { node: [], with: [], without: [] };
  for (let k = 0; k < RUNS; k++) {
    for (let j = 0; j < commands.length; j++) {
      const [name, argv] = commands[(j + k) % commands.length]!;
      const t = performance.now();
      spawnSync(argv[0]!, argv.slice(1), { env });
      times[name]!.push(performance.now() - t);
    }
  }
  out.push({ tool: 'interleaved spawn loop', node: median(times.node!), withAudit: median(times.with!), without: median(times.without!) });
  if (spawnSync('hyperfine', ['--version']).status === 0) {
    const json = join(base, 'hyperfine.json');
    const args = ['-N', '--warmup', '3', '--runs', String(RUNS), '--export-json', json];
    for (const [name, argv] of commands) args.push('-n', name, argv.map((a) => (a === '' ? "''" : a)).join(' '));
    const r = spawnSync('hyperfine', args, { env, stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) throw new Error('hyperfine failed');
    const results = (JSON.parse(readFileSync(json, 'utf8')) as { results: Array<{ command: string; median: number; user: number; system: number }> }).results;
    const get = (n: string): { median: number; user: number; system: number } => results.find((x) => x.command === n)!;
    const cpu = (n: string): number => (get(n).user + get(n).system) * 1000;
    out.push({
      tool: 'hyperfine',
      node: get('node').median * 1000,
      withAudit: get('with').median * 1000,
      without: get('without').median * 1000,
      cpu: { node: cpu('node'), withAudit: cpu('with'), without: cpu('without') },
    });
  }
  return out;
}

function plans(): string[] {
  const lines: string[] = [];
  for (const [label, sql] of [['last row', LAST_ROW], ['last sealed', LAST_SEALED]] as const) {
    const r = spawnSync('sqlite3', [path, `EXPLAIN QUERY PLAN ${sql}`], { encoding: 'utf8' });
    const stats = spawnSync('sqlite3', [path, '.stats on', sql], { encoding: 'utf8' });
    const steps = /Virtual Machine Steps:\s+(\d+)/.exec(stats.stdout)?.[1];
    const scans = /Fullscan Steps:\s+(\d+)/.exec(stats.stdout)?.[1];
    if (r.status !== 0) {
      lines.push(`${label}: sqlite3 not installed, plan not shown`);
      continue;
    }
    lines.push(`${label}: ${r.stdout.replace(/QUERY PLAN\n/, '').replace(/\n/g, ' ').replace(/\s+/g, ' ').trim()}; ${steps ?? '?'} VM steps, ${scans ?? '?'} full-scan steps`);
  }
  return lines;
}

try {
  const key = await setup();
  const ip = await inProcess(key);
  const ap = await appendCost(key);
  const wps = wholeProcess(key);
  const pct = (a: number, b: number): string => `${(((a - b) / b) * 100).toFixed(0)}%`;
  console.log(`vault get, audit log of 10,000 entries (${path})`);
  console.log(`in-process Vault.get, median of 1,000 calls each:`);
  console.log(`  with the audit entry     ${fmt(ip.withAudit)}`);
  console.log(`  without (record no-op)   ${fmt(ip.without)}`);
  console.log(`  difference               ${fmt(ip.withAudit - ip.without)} per get (the entry, its MACs and one fsync'd commit)`);
  console.log(`appending 1,000 entries in one transaction (median of 5):`);
  console.log(`  on a new log             ${fmt(ap.small)}`);
  console.log(`  on a ${ap.entries}-entry log ${fmt(ap.large)}`);
  for (const wp of wps) {
    console.log(`whole process (${wp.tool}, median of ${RUNS} runs):`);
    console.log(`  node -e ""               ${fmt(wp.node)}  (1.00x)`);
    console.log(`  vault get                ${fmt(wp.withAudit)}  (${(wp.withAudit / wp.node).toFixed(2)}x node)`);
    console.log(`  vault get, no audit      ${fmt(wp.without)}  (${(wp.without / wp.node).toFixed(2)}x node)`);
    console.log(`  audit cost               ${fmt(wp.withAudit - wp.without)} (${pct(wp.withAudit, wp.without)} of a get)`);
    if (wp.cpu) {
      console.log(`  CPU (user+sys, mean)     node ${fmt(wp.cpu.node)}, get ${fmt(wp.cpu.withAudit)}, get without audit ${fmt(wp.cpu.without)}`);
      console.log(`  (wall minus CPU is waiting, mostly on the fsyncs of the commit and of the checkpoint at close)`);
    }
  }
  console.log('query plans of the append lookups on this log:');
  for (const l of plans()) console.log(`  ${l}`);
} finally {
  rmSync(base, { recursive: true, force: true });
}
