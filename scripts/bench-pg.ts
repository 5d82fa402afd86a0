/**
 * Team vaults on PostgreSQL (issue 11): what a loopback PostgreSQL vault costs against the
 * local file. Build, then run (root or a user that can run initdb):
 *
 *   npx tsc -p . && node dist/scripts/bench-pg.js [--runs N]
 *
 * Starts a private cluster (test/helpers/pg.ts: Unix socket, fsync off, as the tests run it),
 * makes a file vault and a PostgreSQL vault, each with a master-key slot (unlocking costs an
 * HKDF, not a passphrase KDF), and measures whole processes as a script runs them:
 *  - `vault get` and `vault exec -- true`: interleaved spawn loops with `node -e ""`; medians
 *    and ratios to the file vault and to bare node;
 *  - `vault import` of 10,000 secrets and `vault list --json` at 10,000;
 *  - `vault rotate --master` at 10,000 secrets: the re-encryption `member rm` does (which
 *    scripts/bench-members.ts measures itself);
 *  - 8 processes at once, each opening the vault, putting and reading back (operations/s).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Vault } from '../src/core/vault.js';
import { addMasterKey } from '../src/unlock/slots.js';
import { startCluster } from '../test/helpers/pg.js';
import { median, printRows, timeRun, type BenchRow } from './bench-row.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'bin', 'vault.js');
const WRITER = join(ROOT, 'test', 'fixtures', 'pg-writer.mjs');

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i !== -1 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const ms = (x: number): string => `${x.toFixed(1)} ms`;

async function makeVault(location: string, anchors: string): Promise<string> {
  const vault = await Vault.create(location, { passphrase: Buffer.from('bench passphrase'), kdf: { name: 'scrypt', params: { N: 2 ** 14, r: 8, p: 1 } }, anchorDir: anchors });
  try {
    const key = (await addMasterKey(vault, 'bench')).key;
    vault.put({ ns: 'default', name: 'BENCH_TOKEN' }, Buffer.from('bench-value-0123456789'));
    return key;
  } finally {
    vault.close();
  }
}

export async function measure(): Promise<BenchRow[]> {
  const runs = Number(flag('--runs', '15'));
  const base = mkdtempSync(join(tmpdir(), 'vault-bench-pg-'));
  const cluster = startCluster();
  try {
    const state = join(base, 'state');
    const anchors = join(state, 'vault', 'anchors');
    const file = join(base, 'vault', 'vault.db');
    const pg = cluster.url('bench');
    const fileKey = await makeVault(file, anchors);
    const pgKey = await makeVault(pg, anchors);
    const env = (path: string, key: string): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, HOME: base, XDG_STATE_HOME: state, VAULT_PATH: path, VAULT_MASTER_KEY: key });
    const fileEnv = env(file, fileKey);
    const pgEnv = env(pg, pgKey);

    const rows: BenchRow[] = [];
    for (const [what, args] of [['get', ['get', 'BENCH_TOKEN']], ['exec -- true', ['exec', '--', 'true']]] as Array<[string, string[]]>) {
      const node: number[] = [];
      const f: number[] = [];
      const p: number[] = [];
      for (let i = 0; i < runs; i++) {
        node.push(timeRun(['-e', ''], fileEnv));
        f.push(timeRun([BIN, ...args], fileEnv));
        p.push(timeRun([BIN, ...args], pgEnv));
      }
      const [mn, mf, mp] = [median(node), median(f), median(p)];
      rows.push({ label: `vault ${what} (file)`, figure: `${ms(mf)} (${(mf / mn).toFixed(2)}× node)`, goal: '', met: null });
      rows.push({
        label: `vault ${what} (postgres, loopback)`,
        figure: `${ms(mp)} (${(mp / mf).toFixed(2)}× file, ${(mp / mn).toFixed(2)}× node)`,
        goal: what === 'get' ? '≤ 1.5× file' : '',
        met: what === 'get' ? mp / mf <= 1.5 : null,
      });
    }

    const envFile = join(base, 'many.env');
    writeFileSync(envFile, Array.from({ length: 10_000 }, (_, i) => `SECRET_${i}=value-${i}-${'x'.repeat(24)}`).join('\n') + '\n');
    const imp = timeRun([BIN, 'import', envFile, '--ns', 'bulk'], pgEnv);
    rows.push({ label: 'vault import, 10,000 secrets (postgres)', figure: ms(imp), goal: '', met: null });
    const list: number[] = [];
    for (let i = 0; i < Math.min(runs, 5); i++) list.push(timeRun([BIN, 'list', '--json', '--ns', 'bulk'], pgEnv));
    rows.push({ label: 'vault list --json at 10,000 (postgres)', figure: ms(median(list)), goal: '', met: null });
    const rot = timeRun([BIN, 'rotate', '--master'], pgEnv);
    rows.push({ label: 'rotate --master at 10,000 (postgres; the work of member rm)', figure: ms(rot), goal: '< 10 s', met: rot < 10_000 });

    const PER = 10;
    const t = performance.now();
    const done = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        new Promise<number>((res, rej) => {
          const c = spawn(process.execPath, [WRITER, pg, `T${i}`, String(PER), anchors], { env: pgEnv, stdio: ['ignore', 'ignore', 'pipe'] });
          let err = '';
          c.stderr.on('data', (d: Buffer) => (err += d.toString()));
          c.on('close', (code) => (code === 0 ? res(PER * 2) : rej(new Error(`writer ${i}: ${err}`))));
        }),
      ),
    );
    const secs = (performance.now() - t) / 1000;
    const ops = done.reduce((a, b) => a + b, 0);
    rows.push({ label: '8 processes at once, put + get each (postgres)', figure: `${(ops / secs).toFixed(1)} operations/s (${ops} in ${secs.toFixed(1)} s, opens included)`, goal: '', met: null });
    return rows;
  } finally {
    cluster.destroy();
    rmSync(base, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  printRows(await measure());
}
