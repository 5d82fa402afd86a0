import { realpathSync } from 'node:fs';
import { createConnection } from 'node:net';
import type { Vault } from '../core/vault.js';
import { isPostgresUrl } from '../store/store.js';
import { agentDir, frame, KEY_BYTES, lstatOrNull, PROTOCOL_VERSION, socketPath, untrusted, type Answer, type StatusAnswer } from './protocol.js';

/**
 * The client side of the session agent: what `vault get` and every other command load to ask
 * for the data key. node:net only (test/e2e/lean.test.ts): no commander, no prompts.
 */

/** How long one exchange with the agent may take before it counts as gone. */
const EXCHANGE_MS = 10_000;

export type Reach =
  /** no agent directory or no socket: no session */
  | { kind: 'none' }
  /** the directory or socket is not ours or not private: refused, never connected to */
  | { kind: 'untrusted'; path: string; why: string }
  /** a socket no process answers on (the agent was killed): a stale socket */
  | { kind: 'dead'; socket: string }
  | { kind: 'answer'; socket: string; answer: Answer; key?: Buffer };

/** Checks the directory and socket (lstat: ours, private, no links) and returns the socket's path. */
export function locate(env: NodeJS.ProcessEnv): { kind: 'none' } | { kind: 'untrusted'; path: string; why: string } | { kind: 'ok'; socket: string } {
  const dir = agentDir(env);
  const d = lstatOrNull(dir);
  if (d === null) return { kind: 'none' };
  const dirWhy = untrusted(d, 'directory');
  if (dirWhy) return { kind: 'untrusted', path: dir, why: dirWhy };
  const socket = socketPath(dir);
  const s = lstatOrNull(socket);
  if (s === null) return { kind: 'none' };
  const sockWhy = untrusted(s, 'socket');
  if (sockWhy) return { kind: 'untrusted', path: socket, why: sockWhy };
  return { kind: 'ok', socket };
}

type Op = 'key' | 'status' | 'lock' | 'refresh';

/** One request to the agent; `payload` (raw key bytes) follows the JSON line. */
export async function ask(env: NodeJS.ProcessEnv, op: Op, fields: Record<string, string> = {}, payload?: Buffer): Promise<Reach> {
  const where = locate(env);
  if (where.kind !== 'ok') return where;
  const socket = where.socket;
  return new Promise<Reach>((resolve) => {
    const chunks: Buffer[] = [];
    let done = false;
    const conn = createConnection(socket);
    const finish = (r: Reach): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      conn.destroy();
      for (const c of chunks) c.fill(0);
      resolve(r);
    };
    const timer = setTimeout(() => finish({ kind: 'dead', socket }), EXCHANGE_MS);
    conn.on('error', () => finish({ kind: 'dead', socket }));
    conn.on('connect', () => {
      conn.write(JSON.stringify({ v: PROTOCOL_VERSION, op, ...fields }) + '\n');
      if (payload) conn.write(payload);
    });
    conn.on('data', (c: Buffer) => {
      chunks.push(c);
      const data = Buffer.concat(chunks);
      const f = frame(data, (head) => (op === 'key' && head.ok === true ? KEY_BYTES : 0));
      if (f === null) {
        data.fill(0);
        return;
      }
      if (f === 'bad') {
        data.fill(0);
        finish({ kind: 'answer', socket, answer: { ok: false, reason: 'bad-request' } });
        return;
      }
      const key = op === 'key' && f.head.ok === true ? Buffer.from(f.rest) : undefined;
      data.fill(0);
      finish({ kind: 'answer', socket, answer: f.head as Answer, ...(key ? { key } : {}) });
    });
    conn.on('end', () => finish({ kind: 'dead', socket }));
  });
}

/**
 * The data key of the vault at `realPath` with id `id`, if a session holds it; why not otherwise.
 * The agent checks id and path, and so does this side: an answer for another vault is dropped.
 */
export async function sessionKey(env: NodeJS.ProcessEnv, id: string, realPath: string): Promise<{ key: Buffer } | { key?: undefined; reach: Reach }> {
  const r = await ask(env, 'key', { id, path: realPath });
  if (r.kind === 'answer' && r.answer.ok && r.key && r.key.length === KEY_BYTES && r.answer.id === id && r.answer.path === realPath) return { key: r.key };
  r.kind === 'answer' && r.key?.fill(0);
  return { reach: r };
}

/**
 * What a session is keyed by, with the vault id: a file vault's real path, or a PostgreSQL
 * vault's location (its URL without a password, as Vault.path holds it).
 */
export function sessionPath(path: string): string {
  return isPostgresUrl(path) ? path : realpathSync(path);
}

/** The running session's facts (no key), or why there is none. */
export async function sessionStatus(env: NodeJS.ProcessEnv): Promise<{ status: StatusAnswer } | { status?: undefined; reach: Reach }> {
  const r = await ask(env, 'status');
  if (r.kind === 'answer' && r.answer.ok && 'pid' in r.answer) return { status: r.answer };
  return { reach: r };
}

/**
 * Step 3 of the unlock order: the data key from a session running for this vault, checked by
 * the facade as any unlock is (Vault.unlockWithDataKey). A stale session (the key changed by
 * rotate --master in a process that did not update it) is told to lock, recorded as a failed
 * `session` unlock, and reported in `note`; the caller goes on down the order. A directory or
 * socket that is not ours and private is never connected to; `note` says why.
 */
export async function unlockFromSession(vault: Vault, env: NodeJS.ProcessEnv): Promise<{ ok: boolean; note?: string }> {
  let realPath: string;
  try {
    realPath = sessionPath(vault.path);
  } catch {
    return { ok: false };
  }
  const got = await sessionKey(env, vault.id, realPath);
  if (!got.key) {
    const r = got.reach;
    if (r.kind === 'untrusted') return { ok: false, note: `not using the session: ${r.path} ${r.why}` };
    return { ok: false };
  }
  let ok: boolean;
  try {
    ok = vault.unlockWithDataKey(got.key);
  } finally {
    got.key.fill(0);
  }
  if (ok) return { ok: true };
  await ask(env, 'lock');
  vault.recordFailedUnlock('session');
  return { ok: false, note: 'the session held an old data key (rotate --master ran since vault unlock) and was ended; run vault unlock again' };
}

/**
 * After rotate --master: a session running for this vault with the old key takes the new one
 * (it has to show the old key). Resolves whether a session was updated.
 */
export async function refreshSession(env: NodeJS.ProcessEnv, id: string, realPath: string, oldKey: Buffer, newKey: Buffer): Promise<boolean> {
  const payload = Buffer.concat([oldKey, newKey]);
  try {
    const r = await ask(env, 'refresh', { id, path: realPath }, payload);
    return r.kind === 'answer' && r.answer.ok;
  } finally {
    payload.fill(0);
  }
}
