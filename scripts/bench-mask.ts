/**
 * Masking throughput (issue 12, the `exec --mask` row). Build, then run:
 *
 *   npx tsc -p . && node scripts/bundle.js && node dist/scripts/bench-mask.js [--dir DIR] [--runs N] [--mib M]
 *
 * 1. Makes a vault in DIR (default: the OS temp dir) with a master-key slot (unlocking costs
 *    an HKDF, not a passphrase KDF) and two namespaces: 20 secrets and 10,000 secrets, shaped
 *    like real ones (API tokens, hex keys, passwords with symbols), stored through the library.
 * 2. Writes M MiB (default 200) of build-log-like output (timestamps, paths, words, commit
 *    hashes, request ids) to a file.
 * 3. Whole process: `vault exec --mask -- cat FILE` with stdout to /dev/null, for each
 *    namespace (so the patterns hold every value and its encoded forms: about 11 per value),
 *    against `vault exec -- cat FILE` without masking; medians of N runs (default 3),
 *    interleaved. The figure is M MiB over the wall time of the whole command, start-up,
 *    unlock and compiling the patterns included.
 * 4. Streaming rate: `vault exec --mask -- true` on each namespace in the same rounds (the
 *    fixed cost: start-up, unlocking and decrypting the values, compiling the patterns); the
 *    rate is M MiB over (median time with `cat FILE` − median time with `true`), the cost of
 *    the bytes alone, which should not depend on the number of values.
 * 5. In-process: the Masker alone over the same bytes in 64 KiB writes, and the time to
 *    compile the patterns of 20 and of 10,000 values.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { importSecrets } from '../src/core/bulk.js';
import { Vault } from '../src/core/vault.js';
import { Masker, MaskPatterns } from '../src/exec/mask.js';
import { addMasterKey } from '../src/unlock/slots.js';
import { median, printRows, type BenchRow } from './bench-row.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'bin', 'vault.js');
const GOAL_MBS = 150;

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i !== -1 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

/** A secret as people store them: a token, a hex key, or a password with symbols. */
function secretValue(i: number): Buffer {
  switch (i % 4) {
    case 0:
      return Buffer.from(`sk_live_${randomBytes(18).toString('base64url')}`);
    case 1:
      return Buffer.from(randomBytes(16).toString('hex'));
    case 2:
      return Buffer.from(`${randomBytes(9).toString('base64')}!@#% ${i}`);
    default:
      return Buffer.from(`ghp_${randomBytes(27).toString('base64url')}`);
  }
}

/** 4 MiB of build-log-like text, repeated to fill the output. */
function logBlock(): Buffer {
  const words = ['compiling', 'src/core/vault.ts', 'done', 'GET', '/api/v1/items?page=2', 'PASS', 'test/unit/mask.test.js', 'warning:', 'deprecated', 'npm', 'added 214 packages', 'in', 'ms', 'Downloading', 'https://registry.npmjs.org/commander/-/commander-12.1.0.tgz', 'status=200', 'cache', 'hit', 'error', 'retrying'];
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < 4 << 20; i++) {
    const line = `2026-12-02T16:${String(i % 60).padStart(2, '0')}:${String((i * 7) % 60).padStart(2, '0')}.${String(i % 1000).padStart(3, '0')}Z ${words[i % 20]} ${words[(i * 7) % 20]} ${words[(i * 3) % 20]} commit=${randomBytes(20).toString('hex').slice(0, i % 3 === 0 ? 40 : 7)} req=${randomBytes(6).toString('base64url')} ${i % 5 === 0 ? `took ${i % 997} ms` : ''}\n`;
    lines.push(line);
    size += line.length;
  }
  return Buffer.from(lines.join(''));
}

interface Setup {
  base: string;
  file: string;
  env: Record<string, string>;
  values: Map<string, Buffer[]>;
  mib: number;
  block: Buffer;
}

async function setup(mib: number): Promise<Setup> {
  const base = mkdtempSync(join(flag('--dir', tmpdir()), 'vault-bench-mask-'));
  const path = join(base, 'vault.db');
  const vault = await Vault.create(path, { passphrase: Buffer.from('bench passphrase'), kdf: { name: 'scrypt', params: { N: 2 ** 14, r: 8, p: 1 } }, anchorDir: join(base, 'anchors') });
  const values = new Map<string, Buffer[]>();
  let key: string;
  try {
    key = (await addMasterKey(vault, 'bench')).key;
    for (const [ns, n] of [['m20', 20], ['m10k', 10_000]] as const) {
      const entries = Array.from({ length: n }, (_, i) => ({ name: `SECRET_${i}`, value: secretValue(i) }));
      values.set(ns, entries.map((e) => Buffer.from(e.value)));
      importSecrets(vault, ns, entries);
    }
  } finally {
    vault.close();
  }
  const block = logBlock();
  const file = join(base, 'output.log');
  const fd = openSync(file, 'w');
  let written = 0;
  while (written < mib * 1048576) written += writeSync(fd, block, 0, Math.min(block.length, mib * 1048576 - written));
  closeSync(fd);
  const state = join(base, 'state');
  return { base, file, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: base, VAULT_PATH: path, VAULT_MASTER_KEY: key, XDG_STATE_HOME: state }, values, mib, block };
}

function runOnce(s: Setup, args: string[]): number {
  const devnull = openSync('/dev/null', 'w');
  try {
    const t = performance.now();
    const r = spawnSync(process.execPath, [BIN, ...args], { env: s.env, stdio: ['ignore', devnull, 'pipe'] });
    const ms = performance.now() - t;
    if (r.status !== 0) throw new Error(`vault ${args.join(' ')} failed (${r.status}): ${r.stderr.toString()}`);
    return ms;
  } finally {
    closeSync(devnull);
  }
}

function inProcess(s: Setup, values: Buffer[]): { compileMs: number; mbs: number; patterns: number } {
  const t0 = performance.now();
  const patterns = new MaskPatterns(values);
  const compileMs = performance.now() - t0;
  const masker = new Masker(patterns);
  const total = s.mib * 1048576;
  const t = performance.now();
  let fed = 0;
  while (fed < total) {
    for (let o = 0; o < s.block.length && fed < total; o += 65536) {
      const chunk = s.block.subarray(o, Math.min(o + 65536, o + total - fed));
      masker.write(chunk);
      fed += chunk.length;
    }
  }
  masker.end();
  return { compileMs, mbs: total / 1e6 / ((performance.now() - t) / 1000), patterns: patterns.size };
}

export async function measure(): Promise<BenchRow[]> {
  const runs = Number(flag('--runs', '3'));
  const mib = Number(flag('--mib', '200'));
  const s = await setup(mib);
  try {
    const times = new Map<string, number[]>([['plain', []], ['m20', []], ['m10k', []], ['m20 true', []], ['m10k true', []]]);
    for (let r = 0; r < runs; r++) {
      times.get('plain')!.push(runOnce(s, ['--ns', 'm20', 'exec', '--', 'cat', s.file]));
      for (const ns of ['m20', 'm10k']) {
        times.get(ns)!.push(runOnce(s, ['--ns', ns, 'exec', '--mask', '--', 'cat', s.file]));
        times.get(`${ns} true`)!.push(runOnce(s, ['--ns', ns, 'exec', '--mask', '--', 'true']));
      }
    }
    const mbs = (ms: number): number => (mib * 1048576) / 1e6 / (ms / 1000);
    const rows: BenchRow[] = [];
    const plain = median(times.get('plain')!);
    rows.push({ label: `exec -- cat ${mib} MiB (no mask), reference`, figure: `${mbs(plain).toFixed(0)} MB/s (${(plain / 1000).toFixed(2)} s)`, goal: '', met: null });
    for (const [ns, label] of [['m20', '20'], ['m10k', '10,000']] as const) {
      const ms = median(times.get(ns)!);
      const rate = mbs(ms);
      rows.push({ label: `exec --mask, ${mib} MiB, ${label} values`, figure: `${rate.toFixed(0)} MB/s (${(ms / 1000).toFixed(2)} s)`, goal: `≥ ${GOAL_MBS} MB/s`, met: rate >= GOAL_MBS });
    }
    const streaming: number[] = [];
    for (const [ns, label] of [['m20', '20'], ['m10k', '10,000']] as const) {
      const fixed = median(times.get(`${ns} true`)!);
      const rate = mbs(median(times.get(ns)!) - fixed);
      streaming.push(rate);
      rows.push({ label: `exec --mask -- true, ${label} values (start-up, unlock, compile)`, figure: `${fixed.toFixed(0)} ms`, goal: '', met: null });
      const versus = streaming.length > 1 ? `; ${(rate / streaming[0]!).toFixed(2)}× the rate at 20 values` : '';
      rows.push({ label: `exec --mask streaming rate, ${label} values: ${mib} MiB / (cat − true)`, figure: `${rate.toFixed(0)} MB/s${versus}`, goal: `≥ ${GOAL_MBS} MB/s`, met: rate >= GOAL_MBS });
    }
    for (const [ns, label] of [['m20', '20'], ['m10k', '10,000']] as const) {
      const p = inProcess(s, s.values.get(ns)!);
      rows.push({ label: `Masker in-process, ${label} values (${p.patterns} patterns)`, figure: `${p.mbs.toFixed(0)} MB/s, compile ${p.compileMs.toFixed(0)} ms`, goal: '', met: null });
    }
    return rows;
  } finally {
    rmSync(s.base, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  printRows(await measure());
}
