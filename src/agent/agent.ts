/**
 * The session agent: a detached process started by `vault unlock` (start.ts) that holds one
 * vault's data key in memory and hands it to processes of this user over a private Unix socket
 * (docs/security.md, "Sessions"). It holds nothing else: not the passphrase, not a slot's KEK,
 * never a file with a key in it. It exits on `vault lock`, at its absolute or idle timeout, on
 * SIGTERM/SIGINT, or when its socket is taken away, and zeroes the key first.
 *
 * Its start: one JSON line on stdin ({id, path, forMs, idleMs, dir}) followed by the 32 key
 * bytes; it answers `ready` (or `error: …`) on file descriptor 3, a pipe from `vault unlock`,
 * once it listens, then closes it and stdin (stdout and stderr are /dev/null from the start).
 */
import { chmodSync, closeSync, mkdirSync, unlinkSync, writeSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { frame, KEY_BYTES, lstatOrNull, PROTOCOL_VERSION, socketPath, untrusted } from './protocol.js';

// Before anything else. SIGUSR1 would open Node's inspector (a debugger that reads this
// process's memory, the key included) on a TCP port; a listener keeps it shut. SIGHUP (the
// terminal that ran `vault unlock` closing) must not end the session; SIGINT does not reach a
// process in its own session, but if sent it ends it cleanly like SIGTERM.
process.on('SIGUSR1', () => {});
process.on('SIGHUP', () => {});

interface Config {
  id: string;
  path: string;
  forMs: number;
  idleMs: number;
  dir: string;
}

let key: Buffer | null = null;
let config: Config;
let expiresAt = 0;
let lastUse = 0;
let timer: NodeJS.Timeout | undefined;
let socketIno = -1;
let closing = false;
const server = createServer(serve);

function readStart(): Promise<{ config: Config; key: Buffer }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    process.stdin.on('data', (c: Buffer) => {
      chunks.push(c);
      const data = Buffer.concat(chunks);
      const f = frame(data, () => KEY_BYTES);
      if (f === null) return data.fill(0);
      for (const c2 of chunks) c2.fill(0);
      if (f === 'bad') return reject(new Error('malformed start request'));
      const k = Buffer.from(f.rest);
      data.fill(0);
      const h = f.head;
      if (typeof h.id !== 'string' || typeof h.path !== 'string' || typeof h.dir !== 'string' || typeof h.forMs !== 'number' || typeof h.idleMs !== 'number') {
        k.fill(0);
        return reject(new Error('malformed start request'));
      }
      resolve({ config: { id: h.id, path: h.path, dir: h.dir, forMs: h.forMs, idleMs: h.idleMs }, key: k });
    });
    process.stdin.on('end', () => reject(new Error('no start request')));
  });
}

/** Ends the session: the key zeroed first, then the socket removed (if it is still ours). */
function shutdown(): void {
  if (closing) return;
  closing = true;
  key?.fill(0);
  key = null;
  if (timer) clearTimeout(timer);
  removeSocket();
  server.close();
  // Connections still open are cut: nothing more can be served.
  setImmediate(() => process.exit(0));
}

function removeSocket(): void {
  const path = socketPath(config.dir);
  const st = lstatOrNull(path);
  if (st !== null && st.ino === socketIno) {
    try {
      unlinkSync(path);
    } catch {
      // gone already
    }
  }
}

/** The next deadline: the absolute one or the idle one, whichever comes first. */
function arm(): void {
  if (timer) clearTimeout(timer);
  const now = Date.now();
  const due = Math.min(expiresAt, lastUse + config.idleMs);
  if (due <= now) return shutdown();
  // setTimeout holds at most 2^31-1 ms; a longer wait re-arms.
  timer = setTimeout(arm, Math.min(due - now, 2 ** 31 - 1));
}

function idleExpiresAt(): number {
  return Math.min(expiresAt, lastUse + config.idleMs);
}

function reply(conn: Socket, answer: Record<string, unknown>, payload?: Buffer): void {
  const line = JSON.stringify(answer) + '\n';
  if (payload) {
    // One write, so the client reads the answer in one piece. The socket keeps a reference
    // until written: the copy is zeroed once it has been.
    const copy = Buffer.concat([Buffer.from(line), payload]);
    conn.end(copy, () => copy.fill(0));
  } else {
    conn.end(line);
  }
}

function serve(conn: Socket): void {
  const chunks: Buffer[] = [];
  conn.setTimeout(10_000, () => conn.destroy());
  conn.on('error', () => conn.destroy());
  conn.on('data', (c: Buffer) => {
    chunks.push(c);
    const data = Buffer.concat(chunks);
    const f = frame(data, (head) => (head.op === 'refresh' ? 2 * KEY_BYTES : 0));
    if (f === null) return data.fill(0);
    conn.removeAllListeners('data');
    try {
      if (f === 'bad' || f.head.v !== PROTOCOL_VERSION) return reply(conn, { ok: false, reason: 'bad-request' });
      handle(conn, f.head, f.rest);
    } finally {
      data.fill(0);
      for (const c2 of chunks) c2.fill(0);
    }
  });
}

function handle(conn: Socket, head: Record<string, unknown>, rest: Buffer): void {
  if (closing || key === null || Date.now() >= idleExpiresAt()) {
    shutdown();
    return void conn.destroy();
  }
  const mine = head.id === config.id && head.path === config.path;
  switch (head.op) {
    case 'key':
      // Only the vault it was unlocked for, by id AND real path: a copy of the file elsewhere
      // (same id) or another vault gets nothing.
      if (!mine) return reply(conn, { ok: false, reason: 'other-vault' });
      lastUse = Date.now();
      arm();
      return reply(conn, { ok: true, id: config.id, path: config.path }, key);
    case 'status':
      return reply(conn, { ok: true, id: config.id, path: config.path, pid: process.pid, expiresAt, idleMs: config.idleMs, idleExpiresAt: idleExpiresAt() });
    case 'lock':
      // The key is zeroed and the socket gone before the answer leaves: once `vault lock`
      // returns, no process can get the key any more.
      key.fill(0);
      key = null;
      removeSocket();
      conn.end(JSON.stringify({ ok: true, id: config.id, path: config.path }) + '\n', shutdown);
      setTimeout(shutdown, 1000).unref();
      return;
    case 'refresh': {
      // rotate --master through this session: the new key replaces the old one, but only from
      // someone who shows the old one (a process that could already ask for it).
      if (!mine) return reply(conn, { ok: false, reason: 'other-vault' });
      const old = rest.subarray(0, KEY_BYTES);
      if (!old.equals(key)) return reply(conn, { ok: false, reason: 'wrong-key' });
      key.set(rest.subarray(KEY_BYTES, 2 * KEY_BYTES));
      lastUse = Date.now();
      arm();
      return reply(conn, { ok: true });
    }
    default:
      return reply(conn, { ok: false, reason: 'bad-request' });
  }
}

/** One line to `vault unlock` on fd 3, which is then closed. */
function tell(line: string): void {
  try {
    writeSync(3, `${line}\n`);
    closeSync(3);
  } catch {
    // vault unlock is gone: nobody to tell
  }
}

function fail(message: string): void {
  key?.fill(0);
  tell(`error: ${message}`);
  process.exit(1);
}

async function main(): Promise<void> {
  let start;
  try {
    start = await readStart();
  } catch (e) {
    return fail((e as Error).message);
  }
  config = start.config;
  key = start.key;
  process.stdin.destroy();
  const now = Date.now();
  expiresAt = now + config.forMs;
  lastUse = now;
  // The socket file and the directory are made private to this user: umask before listen, so
  // the socket is never, even for a moment, open to others.
  process.umask(0o077);
  try {
    mkdirSync(config.dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    return fail(`cannot create ${config.dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const dirStat = lstatOrNull(config.dir);
  const why = dirStat === null ? 'is missing' : untrusted(dirStat, 'directory');
  if (why) return fail(`the session directory ${config.dir} ${why}`);
  const path = socketPath(config.dir);
  server.on('error', (e: NodeJS.ErrnoException) => fail(`cannot listen on ${path}: ${e.code ?? e.message}`));
  server.listen(path, () => {
    chmodSync(path, 0o600);
    const st = lstatOrNull(path);
    const bad = st === null ? 'is missing' : untrusted(st, 'socket');
    if (bad) return fail(`the session socket ${path} ${bad}`);
    socketIno = st!.ino;
    process.on('SIGTERM', shutdown);
    process.on('SIGINT', shutdown);
    arm();
    tell('ready');
    // Every minute: a socket removed or replaced means nobody can reach this agent any more.
    setInterval(() => {
      const now2 = lstatOrNull(path);
      if (now2 === null || now2.ino !== socketIno) shutdown();
    }, 60_000).unref();
  });
}

void main();
