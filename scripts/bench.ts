/**
 * `npm run bench`: every row of issue 12's table beside its goal, met or NOT met, measured as
 * whole processes (real vault files, real child processes) against bare `node -e ""` in the
 * same run. Commands are interleaved round by round (so drift in machine load hits every
 * command alike) and each figure is the median of its runs. Then the topic benchmarks other
 * parts of vault ship (dist/scripts/bench-<topic>.js, contract in scripts/bench-row.ts), in
 * the same table. Writes .bench/results.json.
 *
 *   npm run bench                      # default rounds
 *   BENCH_ROUNDS=41 npm run bench      # more rounds (bulk cases run a third as many)
 *   BENCH_PEERS=0 npm run bench        # no peers: do not install dotenvx into .bench/peers
 *
 * Two floor rows show what any program on the chosen parts pays (better-sqlite3 and
 * node:crypto loaded, the file opened and read once; for exec a child spawned too), loaded as
 * vault's CLI is (one bundle, a code cache) but without a line of vault's code: the start-up
 * goals are ratios to bare node, and the floor is part of every command.
 *
 * Peers, measured in the same run when available: `pass` (with gpg, a throwaway GnuPG home
 * and an unprotected key, so it measures start-up and decryption, not a pinentry) and
 * `dotenvx`: the one on PATH, else @dotenvx/dotenvx installed once into .bench/peers (git
 * ignores .bench/) with npm. Not a devDependency: a peer product's dependency tree does not
 * belong in every install of a secret manager, and the benchmark is the only user.
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildSync } from 'esbuild';
import { median, printRows, type BenchRow } from './bench-row.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'bin', 'vault.js');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 21);
const SLOW_ROUNDS = Math.max(3, Math.round(ROUNDS / 3));
const BULK = 10_000;
const DOTENVX_VERSION = '2.38.2';
const TOPICS = ['session', 'project', 'mask', 'scan', 'mcp', 'pg', 'members'];

interface Case {
  key: string;
  argv: string[] | (() => string[]);
  env?: Record<string, string>;
  cwd?: string;
  rounds: number;
}

const work = mkdtempSync(join(tmpdir(), 'vault-bench-'));
const baseEnv: Record<string, string> = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: work,
  LANG: 'C.UTF-8',
  XDG_STATE_HOME: join(work, 'state'),
};
const passphrase = 'benchmark passphrase';

function sh(argv: string[], env: Record<string, string>, input?: string, cwd?: string): { status: number | null; stdout: string; stderr: string } {
  const opts: SpawnSyncOptions = { env, encoding: 'utf8', maxBuffer: 1 << 28, ...(cwd ? { cwd } : {}), ...(input !== undefined ? { input } : {}) };
  const r = spawnSync(argv[0]!, argv.slice(1), opts);
  return { status: r.status, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? r.error ?? '') };
}

function vault(path: string, args: string[], env: Record<string, string> = {}, input?: string): string {
  const r = sh([process.execPath, BIN, ...args], { ...baseEnv, VAULT_PATH: path, ...env }, input);
  if (r.status !== 0) throw new Error(`setup: vault ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

function timeOnce(c: Case): number {
  const argv = typeof c.argv === 'function' ? c.argv() : c.argv;
  const start = process.hrtime.bigint();
  const r = spawnSync(argv[0]!, argv.slice(1), { env: { ...baseEnv, ...c.env }, stdio: ['ignore', 'ignore', 'pipe'], ...(c.cwd ? { cwd: c.cwd } : {}) });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${c.key} exited ${r.status}: ${r.stderr}`);
  return ms;
}

// ---- vaults: a small one (20 secrets) and one of 10,000, each with a CI master key ----------
function makeVault(name: string): { path: string; key: string } {
  const path = join(work, name, 'vault.db');
  vault(path, ['init'], { VAULT_PASSPHRASE: passphrase });
  const key = vault(path, ['key', 'add', '--label', 'bench'], { VAULT_PASSPHRASE: passphrase }).trim();
  return { path, key };
}

const small = makeVault('small');
for (let i = 0; i < 20; i++) vault(small.path, ['put', `SECRET_${i}`], { VAULT_MASTER_KEY: small.key }, `value-${i}-${'x'.repeat(24)}\n`);
const big = makeVault('big');
const envFile = join(work, 'bulk.env');
writeFileSync(envFile, Array.from({ length: BULK }, (_, i) => `SECRET_${String(i).padStart(5, '0')}=value-${i}-${'x'.repeat(24)}\n`).join(''));
vault(big.path, ['import', envFile], { VAULT_MASTER_KEY: big.key });

const smallEnv = { VAULT_PATH: small.path, VAULT_MASTER_KEY: small.key };
const bigEnv = { VAULT_PATH: big.path, VAULT_MASTER_KEY: big.key };
let importRound = 0;

/**
 * The floor under the start-up goals: what any program on the chosen parts pays before it
 * does a secret's work. It loads better-sqlite3 (its addon by path, as vault does) and
 * node:crypto, opens the vault file, runs one SELECT and closes it; the exec floor also loads
 * node:child_process and runs `true`. No vault code, no unlock, no audit entry. It is loaded
 * as vault's CLI is (bin/vault.js, loadBundle): one CommonJS bundle with better-sqlite3's
 * JavaScript inside, compiled with a V8 code cache that its first run writes (setup, below).
 * Without both, compiling better-sqlite3's modules from source costs 3-4 ms that vault does
 * not pay, and the floor would look higher than it is.
 */
const floorScript = (exec: boolean): string => {
  const name = exec ? 'floor-exec' : 'floor-get';
  const source = join(work, `${name}-source.cjs`);
  const bundle = join(work, `${name}.bundle.cjs`);
  const launcher = join(work, `${name}.cjs`);
  const addon = join(ROOT, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node');
  writeFileSync(
    source,
    [
      `const Database = require(${JSON.stringify(join(ROOT, 'node_modules', 'better-sqlite3'))});`,
      `const crypto = require('node:crypto');`,
      `const db = new Database(process.env.VAULT_PATH, { nativeBinding: ${JSON.stringify(addon)} });`,
      `db.prepare('SELECT count(*) FROM sqlite_master').get();`,
      `crypto.createHash('sha256').update('x').digest();`,
      `db.close();`,
      exec ? `if (require('node:child_process').spawnSync('true', { stdio: 'inherit' }).status !== 0) process.exit(1);` : '',
    ].join('\n'),
  );
  // As scripts/bundle.js builds the CLI's bundles: `bindings` (better-sqlite3's addon search,
  // unused with nativeBinding) stays out.
  buildSync({ entryPoints: [source], outfile: bundle, bundle: true, format: 'cjs', platform: 'node', target: 'node20', minify: true, external: ['bindings'], logLevel: 'warning' });
  writeFileSync(
    launcher,
    [
      `'use strict';`,
      `const { readFileSync, writeFileSync } = require('node:fs');`,
      `const { Script } = require('node:vm');`,
      `const Module = module.constructor;`,
      `const file = ${JSON.stringify(bundle)};`,
      `const cacheFile = file + '.cache';`,
      `let cachedData;`,
      `try { cachedData = readFileSync(cacheFile); } catch {}`,
      `const script = new Script('(function (exports, require, module, __filename, __dirname) {' + readFileSync(file, 'utf8') + '\\n})', { filename: file, cachedData });`,
      // a cache V8 refused would make the floor slower than vault: fail the run instead
      `if (cachedData !== undefined && script.cachedDataRejected) process.exit(3);`,
      `const mod = new Module(file, module);`,
      `script.runInThisContext()(mod.exports, Module.createRequire(file), mod, file, ${JSON.stringify(work)});`,
      `if (cachedData === undefined) writeFileSync(cacheFile, script.createCachedData());`,
    ].join('\n'),
  );
  // the first run writes the code cache, as the build does for vault's bundles
  const r = sh([process.execPath, launcher], { ...baseEnv, ...smallEnv });
  if (r.status !== 0 || !existsSync(`${bundle}.cache`)) throw new Error(`setup: the ${name} script failed (${r.status}): ${r.stderr}`);
  return launcher;
};

const cases: Case[] = [
  { key: 'node', argv: [process.execPath, '-e', ''], rounds: ROUNDS },
  { key: 'floor-get', argv: [process.execPath, floorScript(false)], env: smallEnv, rounds: ROUNDS },
  { key: 'floor-exec', argv: [process.execPath, floorScript(true)], env: smallEnv, rounds: ROUNDS },
  { key: 'get', argv: [process.execPath, BIN, 'get', 'SECRET_1'], env: smallEnv, rounds: ROUNDS },
  { key: 'exec', argv: [process.execPath, BIN, 'exec', '--', 'true'], env: smallEnv, rounds: ROUNDS },
  { key: 'list', argv: [process.execPath, BIN, 'list'], env: smallEnv, rounds: ROUNDS },
  // Each import goes into a namespace of its own, so every round imports 10,000 new secrets.
  { key: 'import', argv: () => [process.execPath, BIN, '--ns', `r${importRound++}`, 'import', envFile], env: bigEnv, rounds: SLOW_ROUNDS },
  { key: 'exec-bulk', argv: [process.execPath, BIN, 'exec', '--', 'true'], env: bigEnv, rounds: SLOW_ROUNDS },
  { key: 'env-bulk', argv: [process.execPath, BIN, 'env'], env: bigEnv, rounds: SLOW_ROUNDS },
  { key: 'export-bulk', argv: [process.execPath, BIN, 'export', '--format', 'json'], env: bigEnv, rounds: SLOW_ROUNDS },
  { key: 'list-bulk', argv: [process.execPath, BIN, 'list', '--json'], env: bigEnv, rounds: ROUNDS },
];

// ---- peers -------------------------------------------------------------------------------
const passBin = sh(['sh', '-c', 'command -v pass && command -v gpg'], baseEnv);
if (passBin.status === 0) {
  const gnupg = join(work, 'gnupg');
  mkdirSync(gnupg, { mode: 0o700 });
  const passEnv = { ...baseEnv, GNUPGHOME: gnupg, PASSWORD_STORE_DIR: join(work, 'pass') };
  const gen = sh(['gpg', '--batch', '--passphrase', '', '--quick-gen-key', 'bench@vault.invalid', 'default', 'default', 'never'], passEnv);
  const init = gen.status === 0 ? sh(['pass', 'init', 'bench@vault.invalid'], passEnv) : gen;
  const insert = init.status === 0 ? sh(['pass', 'insert', '-m', 'SECRET_1'], passEnv, 'value-1\n') : init;
  if (insert.status === 0) cases.push({ key: 'pass', argv: ['pass', 'show', 'SECRET_1'], env: passEnv, rounds: ROUNDS });
}

function findDotenvx(): string | null {
  const onPath = sh(['sh', '-c', 'command -v dotenvx'], baseEnv);
  if (onPath.status === 0 && onPath.stdout.trim() !== '') return onPath.stdout.trim();
  const local = join(ROOT, '.bench', 'peers', 'node_modules', '.bin', 'dotenvx');
  if (existsSync(local)) return local;
  if (process.env.BENCH_PEERS === '0') return null;
  console.error(`installing @dotenvx/dotenvx@${DOTENVX_VERSION} into .bench/peers for the comparison (BENCH_PEERS=0 skips it)`);
  mkdirSync(join(ROOT, '.bench', 'peers'), { recursive: true });
  const r = sh(['npm', 'install', '--no-save', '--no-audit', '--no-fund', '--prefix', join(ROOT, '.bench', 'peers'), `@dotenvx/dotenvx@${DOTENVX_VERSION}`], { ...process.env } as Record<string, string>);
  return r.status === 0 && existsSync(local) ? local : null;
}
const dotenvx = findDotenvx();
if (dotenvx) {
  const dir = join(work, 'dotenvx');
  mkdirSync(dir);
  const set = sh([dotenvx, 'set', 'SECRET_1', `value-1-${'x'.repeat(24)}`], baseEnv, undefined, dir);
  if (set.status === 0) cases.push({ key: 'dotenvx', argv: [dotenvx, 'get', 'SECRET_1'], cwd: dir, rounds: ROUNDS });
  else console.error(`dotenvx set failed (${set.status}): ${set.stderr.trim()}`);
}

// ---- measure, interleaved ----------------------------------------------------------------
const samples = new Map<string, number[]>(cases.map((c) => [c.key, []]));
for (const c of cases) timeOnce(c); // warm the page cache once
const maxRounds = Math.max(...cases.map((c) => c.rounds));
for (let round = 0; round < maxRounds; round++) {
  for (const c of cases) if (round < c.rounds) samples.get(c.key)!.push(timeOnce(c));
}
const ms = (key: string): number | null => (samples.has(key) ? median(samples.get(key)!) : null);
const node = ms('node')!;

const rows: BenchRow[] = [];
const f1 = (x: number): string => x.toFixed(1);
function ratioRow(label: string, key: string, goal: number): void {
  const m = ms(key)!;
  rows.push({ label, figure: `${f1(m)} ms (${(m / node).toFixed(2)}× node)`, goal: `≤ ${goal}× node`, met: m / node <= goal });
}
rows.push({ label: 'node -e "" (baseline)', figure: `${f1(node)} ms`, goal: '', met: null });
ratioRow('vault get (master key)', 'get', 1.5);
ratioRow('vault exec -- true', 'exec', 1.7);
ratioRow('vault list', 'list', 1.5);
for (const [key, what] of [['floor-get', 'get'], ['floor-exec', 'exec -- true']] as const) {
  const m = ms(key)!;
  rows.push({ label: `floor of ${what}: better-sqlite3, node:crypto, open, one SELECT${key === 'floor-exec' ? ', spawn true' : ''}; no vault code`, figure: `${f1(m)} ms (${(m / node).toFixed(2)}× node)`, goal: '', met: null });
}
const get = ms('get')!;
const pass = ms('pass');
rows.push(
  pass === null
    ? { label: 'pass show (gpg, no passphrase)', figure: 'not installed', goal: 'vault get beats it', met: null }
    : { label: 'pass show (gpg, no passphrase)', figure: `${f1(pass)} ms (${(pass / node).toFixed(2)}× node)`, goal: 'vault get beats it', met: get < pass },
);
const dx = ms('dotenvx');
rows.push(
  dx === null
    ? { label: 'dotenvx get', figure: 'not available', goal: 'vault get ≥ 5× faster', met: null }
    : { label: 'dotenvx get', figure: `${f1(dx)} ms (${(dx / node).toFixed(2)}× node; vault get ${(dx / get).toFixed(1)}× faster)`, goal: 'vault get ≥ 5× faster', met: dx / get >= 5 },
);
const imp = ms('import')!;
rows.push({ label: `import of ${BULK.toLocaleString('en')} secrets`, figure: `${f1(imp)} ms (${f1(((imp - node) * 1000) / BULK)} µs/secret over node)`, goal: '≤ 1000 ms', met: imp <= 1000 });
for (const [key, what] of [['exec-bulk', 'exec -- true'], ['env-bulk', 'env'], ['export-bulk', 'export --format json']] as const) {
  const m = ms(key)!;
  const per = ((m - node) * 1000) / BULK;
  rows.push({ label: `${what} at ${BULK.toLocaleString('en')} secrets`, figure: `${f1(m)} ms (${f1(per)} µs/secret over node)`, goal: '≤ 40 µs/secret', met: per <= 40 });
}
const lb = ms('list-bulk')!;
rows.push({ label: `list --json at ${BULK.toLocaleString('en')}`, figure: `${f1(lb)} ms (node + ${f1(lb - node)} ms)`, goal: '≤ node + 100 ms', met: lb - node <= 100 });

// ---- the topic benchmarks of other parts of vault -------------------------------------------
for (const topic of TOPICS) {
  const file = join(ROOT, 'dist', 'scripts', `bench-${topic}.js`);
  if (!existsSync(file)) continue;
  try {
    const mod = (await import(pathToFileURL(file).href)) as { measure?: () => Promise<BenchRow[]> };
    if (typeof mod.measure !== 'function') throw new Error('exports no measure()');
    rows.push(...(await mod.measure()));
  } catch (e) {
    rows.push({ label: `bench-${topic}`, figure: `failed: ${(e as Error).message.split('\n')[0]}`, goal: '', met: false });
  }
}

console.log(`node ${process.version}, ${ROUNDS} rounds (bulk cases ${SLOW_ROUNDS}), medians of interleaved runs`);
printRows(rows);
mkdirSync(join(ROOT, '.bench'), { recursive: true });
const raw = Object.fromEntries([...samples].map(([k, v]) => [k, { runs: v.length, medianMs: Number(median(v).toFixed(1)) }]));
writeFileSync(join(ROOT, '.bench', 'results.json'), JSON.stringify({ node: process.version, rounds: ROUNDS, bulkRounds: SLOW_ROUNDS, rows, raw }, null, 2) + '\n');
rmSync(work, { recursive: true, force: true });
