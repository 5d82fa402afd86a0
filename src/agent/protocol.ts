import { lstatSync, type Stats } from 'node:fs';
import { isAbsolute, join } from 'node:path';

/**
 * The session agent's wire format and its place on disk, shared by the agent (agent.ts), the
 * client (client.ts) and `vault unlock` (start.ts). Kept free of anything heavy: `vault get`
 * loads it through the client.
 *
 * One request per connection. A request is one line of JSON, optionally followed by raw key
 * bytes; the answer is one line of JSON, optionally followed by raw key bytes. Keys never pass
 * through a JSON string (a JS string cannot be wiped), only through Buffers.
 *
 *   {"v":1,"op":"key","id":ID,"path":REALPATH}          → {"ok":true,"id","path"} + 32 key bytes
 *   {"v":1,"op":"status"}                                → {"ok":true,"id","path","pid","expiresAt","idleMs","idleExpiresAt"}
 *   {"v":1,"op":"lock"}                                  → {"ok":true,"id","path"}, then the agent exits
 *   {"v":1,"op":"refresh","id","path"} + old key + new key → {"ok":true} (rotate --master through the session)
 *   any refusal                                          → {"ok":false,"reason":"other-vault"|"bad-request"|"wrong-key"}
 */

export const PROTOCOL_VERSION = 1;
export const KEY_BYTES = 32;
/** The longest request line the agent reads (a path of PATH_MAX and a little more). */
export const MAX_LINE = 8192;

export type Request =
  | { v: 1; op: 'key'; id: string; path: string }
  | { v: 1; op: 'status' }
  | { v: 1; op: 'lock' }
  | { v: 1; op: 'refresh'; id: string; path: string };

export interface StatusAnswer {
  ok: true;
  id: string;
  path: string;
  pid: number;
  /** epoch ms of the absolute timeout */
  expiresAt: number;
  idleMs: number;
  /** epoch ms at which the idle timeout ends the session if nothing asks for the key before */
  idleExpiresAt: number;
}

export type Answer = { ok: true; id?: string; path?: string } | StatusAnswer | { ok: false; reason: 'other-vault' | 'bad-request' | 'wrong-key' };

/**
 * The private directory of the agent's socket: `$XDG_RUNTIME_DIR/vault` (an absolute
 * XDG_RUNTIME_DIR only, as the XDG spec says), else `$TMPDIR/vault-UID` (or /tmp), in the way
 * of tmux and ssh-agent. Either way it is checked (ours, 0700, not a link) before use.
 */
export function agentDir(env: NodeJS.ProcessEnv): string {
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime && isAbsolute(runtime)) return join(runtime, 'vault');
  const tmp = env.TMPDIR && isAbsolute(env.TMPDIR) ? env.TMPDIR : '/tmp';
  return join(tmp, `vault-${process.geteuid?.() ?? 'user'}`);
}

export function socketPath(dir: string): string {
  return join(dir, 'agent.sock');
}

/**
 * Why a directory or socket of the agent cannot be trusted, or null. Both sides check with
 * lstat (a symbolic link is refused, never followed): it must be ours and reachable by us only.
 * Another user who could create or replace either could serve a planted key or collect ours.
 */
export function untrusted(st: Stats, kind: 'directory' | 'socket'): string | null {
  const uid = process.geteuid?.();
  if (st.isSymbolicLink()) return 'is a symbolic link';
  if (kind === 'directory' ? !st.isDirectory() : !st.isSocket()) return `is not a ${kind}`;
  if (uid !== undefined && st.uid !== uid) return `belongs to uid ${st.uid}, not to us (uid ${uid})`;
  const allowed = kind === 'directory' ? 0o700 : 0o600;
  if ((st.mode & 0o777 & ~allowed) !== 0) return `has mode ${(st.mode & 0o777).toString(8).padStart(3, '0')}; it must be ${allowed.toString(8)} or stricter`;
  return null;
}

/** lstat, or null when the path does not exist. */
export function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw e;
  }
}

/**
 * Splits what was read so far into the JSON line and the bytes after it, once the line and
 * `extra` bytes after it are complete; null while more is needed; 'too-long' past MAX_LINE.
 */
export function frame(data: Buffer, extra: (head: Record<string, unknown>) => number): { head: Record<string, unknown>; rest: Buffer } | null | 'bad' {
  const nl = data.indexOf(0x0a);
  if (nl === -1) return data.length > MAX_LINE ? 'bad' : null;
  let head: unknown;
  try {
    head = JSON.parse(data.subarray(0, nl).toString('utf8'));
  } catch {
    return 'bad';
  }
  if (typeof head !== 'object' || head === null || Array.isArray(head)) return 'bad';
  const want = extra(head as Record<string, unknown>);
  if (data.length - nl - 1 < want) return null;
  if (data.length - nl - 1 > want) return 'bad';
  return { head: head as Record<string, unknown>, rest: data.subarray(nl + 1) };
}

/** Whether VAULT_SESSION turns sessions off: off, 0, false or no (any case). */
export function sessionsOff(env: NodeJS.ProcessEnv): boolean {
  const v = env.VAULT_SESSION?.trim().toLowerCase();
  return v === 'off' || v === '0' || v === 'false' || v === 'no';
}
