import { spawn } from 'node:child_process';
import { existsSync, unlinkSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { VaultError } from '../core/errors.js';
import { ask, locate } from './client.js';
import { agentDir, socketPath } from './protocol.js';

/** What `vault unlock` needs to start an agent; the key is copied to the agent and not kept. */
export interface StartRequest {
  env: NodeJS.ProcessEnv;
  id: string;
  realPath: string;
  forMs: number;
  idleMs: number;
  key: Buffer;
}

/** What was running before: `vault unlock` replaces it and says so. */
export type Previous = { kind: 'none' } | { kind: 'stale' } | { kind: 'session'; path: string };

/**
 * The agent's entry: agent.js next to this module, both in dist/src/agent/ and in the bundle
 * (dist/cli/, where scripts/bundle.js puts it as its own entry point).
 */
function agentEntry(): string {
  return fileURLToPath(new URL('./agent.js', import.meta.url));
}

/**
 * Ends whatever session runs now (another vault's or this one's), removes a stale socket, and
 * refuses a directory or socket that is not ours and private.
 */
export async function endRunning(env: NodeJS.ProcessEnv): Promise<Previous> {
  const where = locate(env);
  if (where.kind === 'untrusted') throw untrustedError(where.path, where.why);
  if (where.kind === 'none') return { kind: 'none' };
  const r = await ask(env, 'lock');
  if (r.kind === 'answer' && r.answer.ok) return { kind: 'session', path: r.answer.path ?? '' };
  // Nobody answers (the agent was killed): the socket is a leftover; it is ours (checked above).
  try {
    unlinkSync(where.socket);
  } catch {
    // already gone
  }
  return { kind: 'stale' };
}

export function untrustedError(path: string, why: string): VaultError {
  return new VaultError('error', `the session ${path.endsWith('.sock') ? 'socket' : 'directory'} ${path} ${why}; refusing to use it`, {
    hint: `remove it, or make it yours and private (chmod ${path.endsWith('.sock') ? '600' : '700'}); another user may be trying to intercept the vault's key`,
  });
}

/**
 * Starts a detached agent (node running agent.js, in its own session, stdio closed once it is
 * listening) and hands it the key over a pipe, never argv or the environment. Resolves once
 * the agent listens; its pid is returned.
 */
export function startAgent(req: StartRequest): Promise<number> {
  const dir = agentDir(req.env);
  const entry = agentEntry();
  if (!existsSync(entry)) return Promise.reject(new VaultError('error', `the session agent ${entry} is missing from this installation`));
  return new Promise((resolve, reject) => {
    // An empty environment: no NODE_OPTIONS (--require, --inspect) can reach the process that
    // holds the key; the inspector port points where nothing can listen (see bin/vault.js).
    const child = spawn(process.execPath, ['--inspect-port=[ff02::1]:9229', '--', entry], {
      detached: true,
      // stdin: the start request and key; fd 3: its `ready`; stdout and stderr: nowhere.
      stdio: ['pipe', 'ignore', 'ignore', 'pipe'],
      env: {},
      cwd: '/',
    });
    const status = child.stdio[3] as Readable;
    const stdin = child.stdin!;
    let out = '';
    let settled = false;
    const settle = (err: VaultError | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      status.removeAllListeners('data');
      status.destroy();
      stdin.destroy();
      child.unref();
      if (err) {
        try {
          child.kill('SIGKILL');
        } catch {
          // gone
        }
        reject(err);
      } else resolve(child.pid!);
    };
    const timer = setTimeout(() => settle(new VaultError('error', 'the session agent did not start in time')), 30_000);
    child.on('error', (e) => settle(new VaultError('error', `cannot start the session agent: ${e.message}`)));
    stdin.on('error', () => undefined);
    status.on('error', () => undefined);
    status.setEncoding('utf8');
    status.on('data', (c: string) => {
      out += c;
      const nl = out.indexOf('\n');
      if (nl === -1) return;
      const line = out.slice(0, nl);
      if (line === 'ready') settle(null);
      else settle(new VaultError('error', `the session agent could not start: ${line.replace(/^error: /, '')}`));
    });
    child.on('exit', () => settle(new VaultError('error', `the session agent exited at start${out ? `: ${out.trim().replace(/^error: /, '')}` : ''}`)));
    stdin.write(JSON.stringify({ id: req.id, path: req.realPath, forMs: req.forMs, idleMs: req.idleMs, dir }) + '\n');
    const copy = Buffer.from(req.key);
    stdin.write(copy, () => copy.fill(0));
  });
}

export { socketPath };
