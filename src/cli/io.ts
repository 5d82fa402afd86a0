import { fstatSync, statSync, writeSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import type { PassphraseKdfPolicy } from '../crypto/kdf.js';

/**
 * The streams and environment of one invocation. Everything the CLI prints goes through
 * these, never through process.stdout directly, so the rules of SPEC §9 live in one place.
 */
export interface IO {
  stdin: Readable & { isTTY?: boolean };
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  /**
   * For a program that runs the CLI in-process (the tests): the parameters of the passphrase
   * slots this invocation writes (VaultContext.passphraseKdf). processIO never sets it, so the
   * `vault` binary always uses today's defaults: no flag or variable weakens them.
   */
  passphraseKdf?: Partial<PassphraseKdfPolicy>;
  /**
   * The process's own stdout without a stream (processIO only; see DirectOutput): undefined
   * once anything has asked for `stdout`, or when fd 1 may be a terminal. Output through
   * Session (out, outFlushed, outJson, stdoutIsTTY) takes it when there is one.
   */
  directStdout?(): DirectOutput | undefined;
  /** Whether stdin is a terminal, told without making its stream when fd 0 cannot be one (processIO only). */
  stdinIsTTY?(): boolean;
}

/**
 * Writes to a file descriptor with write(2), blocking, before node has made a stream for it:
 * the stream (and node's stream, net and tty modules behind it) costs ~5 ms to make, more than
 * `vault get` spends on its value. Writes complete in order before `write` returns, so output
 * that later goes through the stream follows them.
 */
export interface DirectOutput {
  /**
   * Writes `data`; returns null when all of it was written, else the rest, unwritten. A rest
   * is left when the descriptor would block (a non-blocking pipe that is full) or failed
   * (EPIPE): the caller hands it to the stream, which waits, or reports the error as always.
   */
  write(data: string | Buffer): string | Buffer | null;
}

/** /dev/null's device number, looked up once (exec asks about fd 0 and fd 1); null: not a character device. */
let devNull: number | null | undefined;

/** On a terminal, on Windows, or when fd cannot be checked: false (use the stream). */
function neverATerminal(fd: number): boolean {
  if (process.platform === 'win32') return false;
  try {
    const st = fstatSync(fd);
    if (st.isFIFO() || st.isFile() || st.isSocket()) return true;
    // A character device is a terminal unless it is /dev/null (where scripts send output they discard).
    if (!st.isCharacterDevice()) return false;
    if (devNull === undefined) {
      const nul = statSync('/dev/null');
      devNull = nul.isCharacterDevice() ? nul.rdev : null;
    }
    return devNull === st.rdev;
  } catch {
    return false;
  }
}

function fdOutput(fd: number): DirectOutput {
  return {
    write(data: string | Buffer): string | Buffer | null {
      let bytes = typeof data === 'string' ? null : data;
      let done = 0;
      try {
        if (typeof data === 'string') {
          // Text is encoded by the write itself, without a Buffer of it. A part written is
          // rare (a full non-blocking pipe, a signal): the rest is then taken as bytes.
          done = writeSync(fd, data);
          if (done === Buffer.byteLength(data)) return null;
          bytes = Buffer.from(data);
        }
        while (bytes !== null && done < bytes.length) {
          const n = writeSync(fd, bytes, done, bytes.length - done);
          if (n <= 0) break;
          done += n;
        }
      } catch {
        // EAGAIN, EPIPE, ...: the stream takes the rest (see DirectOutput.write)
      }
      if (bytes === null || done === 0) return data;
      return done >= bytes.length ? null : bytes.subarray(done);
    },
  };
}

/** processIO's IO, with what the launcher needs at the start and at the end of a run. */
export interface ProcessIO extends IO {
  /** Calls `done` once everything written to stdout has been handed to the OS. */
  afterStdout(done: () => void): void;
}

/**
 * The process's own streams, each made on first use: node builds one (a pipe, file or TTY
 * stream, and the stream, net or tty modules behind it, ~5 ms) only when asked. Most commands
 * never read stdin nor write stderr, and `vault get` in a script writes its value to a pipe or
 * file through directStdout. `stdoutMade` is called with process.stdout when it is first asked
 * for (the launcher's EPIPE handler).
 */
export function processIO(env: NodeJS.ProcessEnv = process.env, hooks: { stdoutMade?: (stdout: NodeJS.WriteStream) => void } = {}): ProcessIO {
  let made = false;
  let direct: DirectOutput | null | undefined;
  let stdinMade = false;
  /** fd 0 is a pipe, file, socket or /dev/null (it does not change while the process runs) */
  let stdinNotTTY: boolean | undefined;
  return {
    get stdin() {
      stdinMade = true;
      return process.stdin;
    },
    get stdout() {
      if (!made) {
        made = true;
        hooks.stdoutMade?.(process.stdout);
      }
      return process.stdout;
    },
    get stderr() {
      return process.stderr;
    },
    env,
    directStdout() {
      if (made) return undefined;
      direct ??= neverATerminal(1) ? fdOutput(1) : null;
      return direct ?? undefined;
    },
    stdinIsTTY() {
      if (!stdinMade && (stdinNotTTY ??= neverATerminal(0))) return false;
      return this.stdin.isTTY === true;
    },
    afterStdout(done) {
      // Writes to the stream complete in order: an empty one's callback comes after the others'.
      if (made) process.stdout.write('', done);
      else done();
    },
  };
}

/** SPEC §9: colour only on a TTY, NO_COLOR unset or empty, TERM not dumb, no --no-color; FORCE_COLOR forces it. */
export function colorEnabled(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv, flag: boolean): boolean {
  if (!flag) return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '' && env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false') return true;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.TERM === 'dumb') return false;
  return stream.isTTY === true;
}

/** CI is "set" unless empty, "0" or "false". */
export function inCI(env: NodeJS.ProcessEnv): boolean {
  const ci = env.CI;
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}

/** Reads a whole stream, refusing to buffer more than `limit` bytes. */
export async function readAll(stream: Readable, limit: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buf.length;
    if (size > limit) {
      for (const c of chunks) c.fill(0);
      stream.destroy();
      return null;
    }
    chunks.push(buf);
  }
  const all = Buffer.concat(chunks);
  for (const c of chunks) c.fill(0);
  return all;
}
