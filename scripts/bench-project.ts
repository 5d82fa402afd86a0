/**
 * What does the project file cost `vault exec`? Build, then run:
 *
 *   npx tsc -p . && node scripts/bundle.js && node dist/scripts/bench-project.js [--runs N]
 *
 * Times `vault exec -- true` (master key, one secret) as a whole process in three working
 * directories, interleaved round by round, medians: outside any project (the walk up to the
 * git root or `/` finds nothing), at the root of a repository with a vault.project.json, and
 * eight directories below it (the walk reads one stat per level). Goal: the project file adds
 * at most 5% to `vault exec` (a few stats and one small JSON parse).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Vault } from '../src/core/vault.js';
import { addMasterKey } from '../src/unlock/slots.js';
import { median, printRows, type BenchRow } from './bench-row.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'bin', 'vault.js');

function runs(): number {
  const i = process.argv.indexOf('--runs');
  return i !== -1 ? Number(process.argv[i + 1]) : Number(process.env.BENCH_ROUNDS ?? 15);
}

export async function measure(): Promise<BenchRow[]> {
  const base = mkdtempSync(join(tmpdir(), 'vault-bench-project-'));
  try {
    const path = join(base, 'vault', 'vault.db');
    const vault = await Vault.create(path, { passphrase: Buffer.from('bench passphrase'), kdf: { name: 'scrypt', params: { N: 2 ** 14, r: 8, p: 1 } }, anchorDir: join(base, 'state', 'vault', 'anchors') });
    let key: string;
    try {
      key = (await addMasterKey(vault, 'bench')).key;
      vault.put({ ns: 'app', name: 'TOKEN' }, Buffer.from('bench-value-0123456789'));
      vault.put({ ns: 'default', name: 'TOKEN' }, Buffer.from('bench-value-0123456789'));
    } finally {
      vault.close();
    }
    const plain = join(base, 'plain');
    const repo = join(base, 'repo');
    const deep = join(repo, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h');
    mkdirSync(plain);
    mkdirSync(join(repo, '.git'), { recursive: true });
    mkdirSync(deep, { recursive: true });
    writeFileSync(join(repo, 'vault.project.json'), JSON.stringify({ namespace: 'app', secrets: { TOKEN: { description: 'a token' } } }));
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: base, XDG_STATE_HOME: join(base, 'state'), VAULT_PATH: path, VAULT_MASTER_KEY: key };
    const places = { 'no project file': plain, 'project file here': repo, 'project file 8 levels up': deep } as const;
    const times: Record<string, number[]> = {};
    for (let round = 0; round < runs(); round++) {
      for (const [label, cwd] of Object.entries(places)) {
        const t = performance.now();
        const r = spawnSync(process.execPath, ['--inspect-port=[ff02::1]:9229', '--', BIN, '--quiet', 'exec', '--', 'true'], { cwd, env, stdio: 'ignore' });
        const ms = performance.now() - t;
        if (r.status !== 0) throw new Error(`vault exec failed in ${cwd}: ${r.status}`);
        (times[label] ??= []).push(ms);
      }
    }
    const without = median(times['no project file']!);
    return Object.keys(places).map((label) => {
      const m = median(times[label]!);
      const ratio = m / without;
      const row: BenchRow = label === 'no project file'
        ? { label: `vault exec -- true (${label})`, figure: `${m.toFixed(1)} ms`, goal: '', met: null }
        : { label: `vault exec -- true (${label})`, figure: `${m.toFixed(1)} ms (${ratio.toFixed(2)}× no project)`, goal: '≤ 1.05× no project', met: ratio <= 1.05 };
      return row;
    });
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  printRows(await measure());
}
