/**
 * `vault get` through an unlocked session against `vault get` with a master key, in the same
 * run. Build, then run directly (or through npm run bench, which calls measure()):
 *
 *   npx tsc -p . && node scripts/bundle.js && node dist/scripts/bench-session.js [--runs N]
 *
 * A vault with a master-key slot and one secret is made through the library (cheap passphrase
 * KDF: the benchmark never unlocks with it); `vault unlock` starts an agent in a private
 * XDG_RUNTIME_DIR of this run. Then the two `vault get` processes are spawned alternately (so
 * drift hits both alike) and the medians of wall time compared. The goal (issue 10): the
 * session no slower than the master key. A master-key unlock is one HKDF and one AES-GCM
 * unwrap; a session unlock is one Unix-socket round trip, so the two are close and the ratio
 * sits near 1.0: the goal allows 5% for noise on a shared machine.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Vault } from '../src/core/vault.js';
import { addMasterKey } from '../src/unlock/slots.js';
import { median, printRows, type BenchRow } from './bench-row.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'bin', 'vault.js');
const GOAL = 1.05;

function runs(): number {
  const i = process.argv.indexOf('--runs');
  const n = i !== -1 ? Number(process.argv[i + 1]) : Number(process.env.BENCH_ROUNDS ?? 21);
  return Number.isInteger(n) && n > 0 ? n : 21;
}

function timed(env: NodeJS.ProcessEnv): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [BIN, 'get', 'BENCH_TOKEN'], { env, encoding: 'utf8' });
  const ms = performance.now() - t0;
  if (r.status !== 0 || r.stdout !== 'bench-value-0123456789') throw new Error(`vault get failed (${r.status}): ${r.stderr}`);
  return ms;
}

export async function measure(): Promise<BenchRow[]> {
  const base = mkdtempSync(join(tmpdir(), 'vault-bench-session-'));
  const runtime = join(base, 'run');
  mkdirSync(runtime, { mode: 0o700 });
  const path = join(base, 'vault.db');
  const common = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: base, LANG: 'C.UTF-8', XDG_STATE_HOME: join(base, 'state'), XDG_RUNTIME_DIR: runtime, VAULT_PATH: path };
  try {
    const vault = await Vault.create(path, { passphrase: Buffer.from('bench passphrase'), kdf: { name: 'scrypt', params: { N: 2 ** 14, r: 8, p: 1 } }, anchorDir: join(base, 'state', 'vault', 'anchors') });
    let masterKey: string;
    try {
      masterKey = (await addMasterKey(vault, 'bench')).key;
      vault.put({ ns: 'default', name: 'BENCH_TOKEN' }, Buffer.from('bench-value-0123456789'));
    } finally {
      vault.close();
    }
    const keyEnv = { ...common, VAULT_MASTER_KEY: masterKey, VAULT_SESSION: 'off' };
    const sessionEnv = { ...common };
    const u = spawnSync(process.execPath, [BIN, 'unlock', '--for', '1h', '--idle', '1h'], { env: { ...common, VAULT_MASTER_KEY: masterKey }, encoding: 'utf8' });
    if (u.status !== 0) throw new Error(`vault unlock failed: ${u.stderr}`);
    try {
      // One warm-up each (page cache, the first compile of the bundle).
      timed(keyEnv);
      timed(sessionEnv);
      const key: number[] = [];
      const session: number[] = [];
      for (let i = 0; i < runs(); i++) {
        key.push(timed(keyEnv));
        session.push(timed(sessionEnv));
      }
      const k = median(key);
      const s = median(session);
      return [
        { label: 'vault get (master key)', figure: `${k.toFixed(1)} ms`, goal: '', met: null },
        { label: 'vault get (session)', figure: `${s.toFixed(1)} ms (${(s / k).toFixed(2)}× master key)`, goal: `≤ ${GOAL.toFixed(2)}× master key`, met: s / k <= GOAL },
      ];
    } finally {
      spawnSync(process.execPath, [BIN, 'lock'], { env: sessionEnv });
    }
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  printRows(await measure());
}
