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
}

/**
 * The process's own streams. stdin is made on first use: node builds it (a pipe, file or TTY
 * stream, and the stream modules behind it) only when asked, and most commands never read it.
 */
export function processIO(env: NodeJS.ProcessEnv = process.env): IO {
  return {
    get stdin() {
      return process.stdin;
    },
    stdout: process.stdout,
    stderr: process.stderr,
    env,
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
