/**
 * `npm run bench`: start-up and command latency of vault, as ratios against bare `node -e ""`
 * measured in the same run. Commands are interleaved round by round (so drift in machine load
 * hits every command alike) and each figure is the median of its runs.
 *
 *   npm run bench              # default rounds
 *   BENCH_ROUNDS=41 npm run bench
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'bin', 'vault.js');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 21);
const SLOW_ROUNDS = Math.max(3, Math.round(ROUNDS / 3));

interface Case {
  label: string;
  argv: string[];
  env?: Record<string, string>;
  input?: string;
  rounds: number;
}

const work = mkdtempSync(join(tmpdir(), 'vault-bench-'));
const vaultPath = join(work, 'vault.db');
const baseEnv: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work, LANG: 'C.UTF-8', VAULT_PATH: vaultPath };
const passphrase = 'benchmark passphrase';

function sh(argv: string[], env: Record<string, string>, input?: string): { status: number | null; stdout: string; stderr: string } {
  const opts: SpawnSyncOptions = { env, encoding: 'utf8', ...(input !== undefined ? { input } : {}) };
  const r = spawnSync(argv[0]!, argv.slice(1), opts);
  return { status: r.status, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}

function vault(args: string[], env: Record<string, string> = {}, input?: string): { status: number | null; stdout: string; stderr: string } {
  const r = sh([process.execPath, BIN, ...args], { ...baseEnv, ...env }, input);
  if (r.status !== 0) throw new Error(`setup: vault ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r;
}

function timeOnce(c: Case): number {
  const start = process.hrtime.bigint();
  const r = spawnSync(c.argv[0]!, c.argv.slice(1), { env: { ...baseEnv, ...c.env }, input: c.input ?? '', stdio: ['pipe', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${c.label} exited ${r.status}: ${r.stderr}`);
  return ms;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

// ---- set up a vault with a few secrets and a CI master key --------------------------------
vault(['init'], { VAULT_PASSPHRASE: passphrase });
for (let i = 0; i < 20; i++) vault(['put', `SECRET_${i}`], { VAULT_PASSPHRASE: passphrase }, `value-${i}-${'x'.repeat(24)}\n`);
const keyAdd = sh([process.execPath, BIN, 'key', 'add', '--label', 'bench'], { ...baseEnv, VAULT_PASSPHRASE: passphrase });
const masterKey = keyAdd.status === 0 ? keyAdd.stdout.trim() : null;

const cases: Case[] = [
  { label: 'node -e ""  (baseline)', argv: [process.execPath, '-e', ''], rounds: ROUNDS },
  { label: 'vault --version', argv: [process.execPath, BIN, '--version'], rounds: ROUNDS },
  { label: 'vault list (no unlock)', argv: [process.execPath, BIN, 'list'], rounds: ROUNDS },
];
if (masterKey) {
  cases.push({ label: 'vault get (master key)', argv: [process.execPath, BIN, 'get', 'SECRET_1'], env: { VAULT_MASTER_KEY: masterKey }, rounds: ROUNDS });
  const execHelp = sh([process.execPath, BIN, 'exec', '--help'], baseEnv);
  if (execHelp.status === 0) {
    cases.push({ label: 'vault exec -- true (master key)', argv: [process.execPath, BIN, 'exec', '--', 'true'], env: { VAULT_MASTER_KEY: masterKey }, rounds: ROUNDS });
  }
}
cases.push({ label: 'vault get (passphrase, scrypt N=2^17)', argv: [process.execPath, BIN, 'get', 'SECRET_1'], env: { VAULT_PASSPHRASE: passphrase }, rounds: SLOW_ROUNDS });

// `pass show` for comparison, when pass and gpg are installed: a throwaway GnuPG home with an
// unprotected key, so the comparison measures start-up and decryption, not a pinentry.
const passBin = sh(['sh', '-c', 'command -v pass && command -v gpg'], baseEnv);
if (passBin.status === 0) {
  const gnupg = join(work, 'gnupg');
  mkdirSync(gnupg, { mode: 0o700 });
  const passEnv = { ...baseEnv, GNUPGHOME: gnupg, PASSWORD_STORE_DIR: join(work, 'pass') };
  const gen = sh(['gpg', '--batch', '--passphrase', '', '--quick-gen-key', 'bench@vault.invalid', 'default', 'default', 'never'], passEnv);
  const init = gen.status === 0 ? sh(['pass', 'init', 'bench@vault.invalid'], passEnv) : gen;
  const insert = init.status === 0 ? sh(['pass', 'insert', '-m', 'SECRET_1'], passEnv, 'value-1\n') : init;
  if (insert.status === 0) cases.push({ label: 'pass show (gpg, no passphrase)', argv: ['pass', 'show', 'SECRET_1'], env: passEnv, rounds: ROUNDS });
}

// ---- measure, interleaved ----------------------------------------------------------------
const samples = new Map<string, number[]>(cases.map((c) => [c.label, []]));
for (const c of cases) timeOnce(c); // warm the page cache once
const maxRounds = Math.max(...cases.map((c) => c.rounds));
for (let round = 0; round < maxRounds; round++) {
  for (const c of cases) if (round < c.rounds) samples.get(c.label)!.push(timeOnce(c));
}

const base = median(samples.get(cases[0]!.label)!);
const rows = cases.map((c) => {
  const m = median(samples.get(c.label)!);
  return { command: c.label, runs: c.rounds, medianMs: Number(m.toFixed(1)), ratio: Number((m / base).toFixed(2)) };
});
const width = Math.max(...rows.map((r) => r.command.length));
console.log(`node ${process.version}, ${rows[0]!.runs} rounds (slow cases ${SLOW_ROUNDS}), medians`);
console.log(`${'command'.padEnd(width)}  median ms  × node -e ""`);
for (const r of rows) console.log(`${r.command.padEnd(width)}  ${r.medianMs.toFixed(1).padStart(9)}  ${r.ratio.toFixed(2).padStart(10)}`);
if (!masterKey) console.log('(no `vault key add` in this build: master-key cases skipped)');
mkdirSync(join(ROOT, '.bench'), { recursive: true });
writeFileSync(join(ROOT, '.bench', 'results.json'), JSON.stringify({ node: process.version, rounds: ROUNDS, rows }, null, 2) + '\n');
rmSync(work, { recursive: true, force: true });
