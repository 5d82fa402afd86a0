import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Vault } from '../../src/core/vault.js';
import { anchorDir } from '../../src/store/anchor.js';
import { cheapVault } from './vaults.js';

/** The repository root (this file is compiled to dist/test/helpers/cli.js). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const BIN = join(ROOT, 'bin', 'vault.js');

export const PASSPHRASE = 'correct horse battery staple';

export interface RunResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  /** stdout as UTF-8 text */
  out: string;
}

/**
 * The passphrase KDF that in-process runs give the CLI (IO.passphraseKdf): the cheapest the
 * bounds accept, so a passphrase unlock costs scrypt N=2^14 rather than today's N=2^17. The
 * `vault` binary has no such switch; spawned runs (runVault) always use today's defaults.
 */
export const TEST_KDF = { scrypt: { N: 2 ** 14, r: 8, p: 1 }, pbkdf2: { iterations: 100_000 } } as const;

export interface RunOptions {
  /** variables added to the base environment (PATH, HOME, LANG); undefined removes one */
  env?: Record<string, string | undefined>;
  input?: string | Buffer;
  cwd?: string;
  timeoutMs?: number;
}

/** A clean environment for the child: nothing of the developer's VAULT_* or CI leaks in. */
export function baseEnv(home: string): Record<string, string> {
  // The rollback anchors go where the test runner says (scripts/test.js), never into HOME.
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8' };
  if (process.env.XDG_STATE_HOME) env.XDG_STATE_HOME = process.env.XDG_STATE_HOME;
  // Session agents (vault unlock) likewise: a runtime directory of the run, never the developer's.
  if (process.env.XDG_RUNTIME_DIR) env.XDG_RUNTIME_DIR = process.env.XDG_RUNTIME_DIR;
  return env;
}

/** Spawns `node bin/vault.js ARGS` with no TTY, stdin a pipe (closed after `input`). */
export function runVault(args: string[], options: RunOptions = {}): Promise<RunResult> {
  // The flags of the launcher's shebang: the inspector's address is one nothing can listen on
  // (see bin/vault.js), and `--` keeps node 20 from acting on `exec --env-file F` itself.
  return runCommand(process.execPath, ['--inspect-port=[ff02::1]:9229', '--', BIN, ...args], options);
}

/** The child's environment: baseEnv with options.env over it. */
function runEnv(options: RunOptions): Record<string, string> {
  const env: Record<string, string> = { ...baseEnv(options.cwd ?? tmpdir()) };
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/**
 * Runs `vault ARGS` in this process: the CLI's run(argv, io) with in-memory streams (no TTY,
 * stdin ended after `input`) and the environment runVault would give the child. The same
 * exit statuses and output as a spawned run, without a node start-up per command, except
 * that passphrase slots it writes take TEST_KDF (and slots at TEST_KDF are not upgraded)
 * unless `realKdf`. Use
 * runVault for what needs a real process: signals, children, terminals, the launcher
 * (bin/vault.js), crashes, the keychain, several processes at once, process-wide state
 * (the audit actor's pid and parent, umask, /proc). `cwd` changes this process's directory
 * for the run.
 */
export async function runInProcess(args: string[], options: InProcessOptions = {}): Promise<RunResult> {
  const { run } = await import('../../src/cli/main.js');
  // `cwd`: the process's own directory for the run (the CLI and the children it starts use
  // process.cwd()). Runs that overlap must agree on it: a test file's tests run one at a time.
  const cwd = options.cwd;
  if (cwd !== undefined) {
    if (inDir.count > 0 && inDir.path !== cwd) throw new Error(`runInProcess: overlapping runs in ${inDir.path} and ${cwd}`);
    if (inDir.count === 0) {
      inDir.previous = process.cwd();
      inDir.path = cwd;
      process.chdir(cwd);
    }
    inDir.count++;
  }
  try {
    return await runHere(run, args, options);
  } finally {
    if (cwd !== undefined && --inDir.count === 0) process.chdir(inDir.previous);
  }
}

/** runInProcess's options: those of runVault but the timeout; realKdf as said there. */
export type InProcessOptions = Omit<RunOptions, 'timeoutMs'> & { realKdf?: boolean };

const inDir = { count: 0, path: '', previous: '' };

async function runHere(run: typeof import('../../src/cli/main.js').run, args: string[], options: InProcessOptions): Promise<RunResult> {
  // A copy: the CLI wipes what it read from stdin, as it may; the caller's buffer stays intact.
  const input = options.input === undefined ? [] : [Buffer.isBuffer(options.input) ? Buffer.from(options.input) : Buffer.from(options.input, 'utf8')];
  const stdin = Object.assign(Readable.from(input), { isTTY: false });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const sink = (chunks: Buffer[]): Writable & { isTTY: boolean } =>
    Object.assign(
      new Writable({
        write(chunk: Buffer | string, encoding, callback) {
          chunks.push(Buffer.isBuffer(chunk) ? Buffer.from(chunk) : Buffer.from(chunk, encoding));
          callback();
        },
      }),
      { isTTY: false },
    );
  // TEST_KDF unless the test is about today's defaults (realKdf): what the binary writes.
  const passphraseKdf = options.realKdf ? undefined : { scrypt: { ...TEST_KDF.scrypt }, pbkdf2: { ...TEST_KDF.pbkdf2 } };
  const status = await run(args, { stdin, stdout: sink(out), stderr: sink(err), env: runEnv(options), passphraseKdf });
  const stdout = Buffer.concat(out);
  return { status, signal: null, stdout, stderr: Buffer.concat(err).toString('utf8'), out: stdout.toString('utf8') };
}

export function runCommand(file: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const env = runEnv(options);
  return new Promise((resolvePromise, reject) => {
    const child = spawn(file, args, { env, cwd: options.cwd ?? ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.stdin.on('error', () => undefined);
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out);
      resolvePromise({ status, signal, stdout, stderr: Buffer.concat(err).toString('utf8'), out: stdout.toString('utf8') });
    });
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
  });
}

/** A temporary directory removed by the returned cleanup function. */
export function tempDir(prefix = 'vault-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface FreshVault {
  dir: string;
  path: string;
  masterKey: string;
  /** unlocks with VAULT_MASTER_KEY: no KDF wait */
  env: Record<string, string>;
  /** unlocks with VAULT_PASSPHRASE (PASSPHRASE), for the tests of passphrase behaviour */
  passphraseEnv: Record<string, string>;
  cleanup: () => void;
}

/**
 * A fresh vault at a new temporary path, with its own vault id: a passphrase slot (PASSPHRASE,
 * scrypt at the cheapest parameters the bounds allow, made through the library) and a
 * master-key slot labelled "tests". `env` unlocks with the master key, which comes first in the
 * unlock order and costs no KDF; `passphraseEnv` unlocks with the passphrase (the shipped
 * binary re-wraps the cheap passphrase slot at today's defaults at its first passphrase unlock:
 * kdf-upgrade). Anchors go where the runner's environment puts them, as for any command.
 */
export async function freshVault(): Promise<FreshVault> {
  const v = await cheapVault({ anchors: anchorDir(baseEnv(tmpdir())) });
  return {
    dir: v.dir,
    path: v.path,
    masterKey: v.masterKey,
    env: { VAULT_PATH: v.path, VAULT_MASTER_KEY: v.masterKey },
    passphraseEnv: { VAULT_PATH: v.path, VAULT_PASSPHRASE: PASSPHRASE },
    cleanup: v.cleanup,
  };
}

/**
 * A vault as `vault init` makes it (one passphrase slot at today's default KDF cost), made
 * through the library with its own vault id; `env` unlocks with the passphrase. For the tests
 * of passphrase behaviour (passwd, kdf, prompts), which pay the KDF on every unlock.
 * `cheap`: the slot is made at TEST_KDF (scrypt N=2^14, the floor the vault accepts), so making
 * it and unlocking it in-process (runInProcess) cost little; the binary's first passphrase
 * unlock (runVault) upgrades it to today's defaults (a kdf-upgrade entry in the audit log).
 */
export async function passphraseVault(options: { spawnInit?: boolean; cheap?: boolean } = {}): Promise<Omit<FreshVault, 'masterKey'>> {
  const { dir, cleanup } = tempDir();
  const path = join(dir, 'vault', 'vault.db');
  const env = { VAULT_PATH: path, VAULT_PASSPHRASE: PASSPHRASE };
  if (options.spawnInit) {
    // `vault init` itself, for the tests of what its process records (the audit actor)
    const r = await runVault(['init'], { env });
    if (r.status !== 0) throw new Error(`vault init failed: ${r.stderr}`);
  } else {
    const kdf = options.cheap ? { kdf: { name: 'scrypt' as const, params: { ...TEST_KDF.scrypt } } } : {};
    const vault = await Vault.create(path, { passphrase: Buffer.from(PASSPHRASE), anchorDir: anchorDir(baseEnv(tmpdir())), ...kdf });
    vault.close();
  }
  return { dir, path, env, passphraseEnv: env, cleanup };
}
