import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

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
  return env;
}

/** Spawns `node bin/vault.js ARGS` with no TTY, stdin a pipe (closed after `input`). */
export function runVault(args: string[], options: RunOptions = {}): Promise<RunResult> {
  // The flags of the launcher's shebang: the inspector's address is one nothing can listen on
  // (see bin/vault.js), and `--` keeps node 20 from acting on `exec --env-file F` itself.
  return runCommand(process.execPath, ['--inspect-port=[ff02::1]:9229', '--', BIN, ...args], options);
}

export function runCommand(file: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const env: Record<string, string> = { ...baseEnv(options.cwd ?? tmpdir()) };
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
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

let template: Promise<string> | undefined;

/**
 * A fresh vault (default scrypt parameters, passphrase PASSPHRASE) at a new temporary path.
 * `vault init` runs once per test process; each call gets its own copy of that file, so
 * tests are independent without paying the KDF for every init. Copies share a vault id.
 */
export async function freshVault(): Promise<{ dir: string; path: string; env: Record<string, string>; cleanup: () => void }> {
  template ??= (async () => {
    const { dir, cleanup } = tempDir('vault-template-');
    process.once('exit', cleanup);
    const path = join(dir, 'template.db');
    const r = await runVault(['init', '--vault', path], { env: { VAULT_PASSPHRASE: PASSPHRASE } });
    if (r.status !== 0) throw new Error(`template init failed: ${r.stderr}`);
    return path;
  })();
  const src = await template;
  const { dir, cleanup } = tempDir();
  const path = join(dir, 'vault', 'vault.db');
  mkdirSync(dirname(path), { mode: 0o700 });
  copyFileSync(src, path);
  chmodSync(path, 0o600);
  return { dir, path, env: { VAULT_PATH: path, VAULT_PASSPHRASE: PASSPHRASE }, cleanup };
}
