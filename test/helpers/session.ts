import { chmodSync, mkdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { freshVault, runInProcess, type FreshVault, type RunOptions, type RunResult } from './cli.js';

/**
 * A fresh vault (cheap, with a master key) and a private XDG_RUNTIME_DIR of its own, so that
 * each test has its own session agent. `run` runs vault in this process with no unlocking
 * variable (only the session can unlock); `withKey` adds the master key. Every agent started
 * is killed by cleanup(), whatever the test did.
 */
export interface SessionVault extends FreshVault {
  runtime: string;
  /** the agent directory and socket under `runtime` */
  agentDir: string;
  socket: string;
  real: string;
  bare: Record<string, string>;
  run: (args: string[], options?: Omit<RunOptions, 'cwd' | 'timeoutMs'>) => Promise<RunResult>;
  withKey: (args: string[], options?: Omit<RunOptions, 'cwd' | 'timeoutMs'>) => Promise<RunResult>;
  /** starts a session with the master key; returns the agent's pid */
  unlock: (flags?: string[]) => Promise<number>;
  /** an agent pid to kill at cleanup */
  track: (pid: number) => void;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits (up to 20 s, polling) for a process to be gone; whether it went. Not a timing assertion. */
export async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    if (!alive(pid)) return true;
    await sleep(100);
  }
  return false;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function sessionVault(): Promise<SessionVault> {
  const v = await freshVault();
  const runtime = join(v.dir, 'run');
  mkdirSync(runtime, { mode: 0o700 });
  chmodSync(runtime, 0o700);
  const bare = { VAULT_PATH: v.path, XDG_RUNTIME_DIR: runtime };
  const pids: number[] = [];
  const run = (args: string[], options: Omit<RunOptions, 'cwd' | 'timeoutMs'> = {}) => runInProcess(args, { ...options, env: { ...bare, ...(options.env ?? {}) } });
  const withKey = (args: string[], options: Omit<RunOptions, 'cwd' | 'timeoutMs'> = {}) => run(args, { ...options, env: { VAULT_MASTER_KEY: v.masterKey, ...(options.env ?? {}) } });
  return {
    ...v,
    runtime,
    agentDir: join(runtime, 'vault'),
    socket: join(runtime, 'vault', 'agent.sock'),
    real: realpathSync(v.path),
    bare,
    run,
    withKey,
    track: (pid) => pids.push(pid),
    unlock: async (flags = []) => {
      const r = await withKey(['unlock', '--json', ...flags]);
      if (r.status !== 0) throw new Error(`vault unlock failed: ${r.stderr}`);
      const pid = (JSON.parse(r.out) as { pid: number }).pid;
      pids.push(pid);
      return pid;
    },
    cleanup: () => {
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      v.cleanup();
    },
  };
}
