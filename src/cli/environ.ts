import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { SECRET_VARIABLES } from '../unlock/variables.js';

/**
 * The launcher's first job with the environment: take the variables that hold a secret able
 * to unlock the whole vault out of the process environment, and wipe them from the copy the
 * kernel keeps.
 *
 * Why: /proc/PID/environ serves the environment block the process was started with, straight
 * from its initial stack, to any process of the same user (the check is PTRACE_MODE_READ,
 * which Yama's ptrace_scope does not restrict). `vault exec` leaves these variables out of the
 * child's environment, but the child could still read them from /proc/$PPID/environ. Removing
 * a variable from process.env (unsetenv) only drops the pointer; the bytes stay in that block,
 * so they are overwritten in place through /proc/self/mem.
 */

export { SECRET_VARIABLES };

/**
 * Removes `names` from `env` (process.env: unsetenv) and returns their values, so the caller
 * can hand them to the CLI in its own env object. On Linux, also overwrites the values with
 * zero bytes in the original environment block, so /proc/self/environ no longer shows them.
 * Never throws: when the block cannot be rewritten (no /proc, /proc/self/mem not writable)
 * the values stay readable there, as they would without this function.
 */
export function takeSecretVariables(env: NodeJS.ProcessEnv = process.env, names: ReadonlyArray<string> = SECRET_VARIABLES): Record<string, string> {
  const taken: Record<string, string> = {};
  for (const name of names) {
    const value = env[name];
    if (value === undefined) continue;
    taken[name] = value;
    delete env[name];
  }
  if (Object.keys(taken).length > 0 && process.platform === 'linux') {
    try {
      wipeInitialEnvironment(Object.keys(taken));
    } catch {
      // Best effort: a kernel without /proc, or one that refuses writes to /proc/self/mem
      // (some sandboxes), leaves the block as it was. The command itself must still run.
    }
  }
  return taken;
}

/** Where the kernel's copy of the environment lies: fields 50 and 51 (env_start, env_end) of /proc/self/stat. */
export function environmentRange(stat: string): { start: number; end: number } | null {
  // Field 2, (comm), may hold spaces and parentheses: count fields from after the last ')'.
  // The text after it starts with field 3 (state).
  const fields = stat.slice(stat.lastIndexOf(')') + 1).trim().split(' ');
  const start = Number(fields[50 - 3]);
  const end = Number(fields[51 - 3]);
  // User-space addresses are below 2^47: exact as JavaScript numbers.
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start <= 0 || end <= start) return null;
  return { start, end };
}

/** Byte ranges (offsets into `block`) of the values of every `NAME=value` entry for one of `names`. */
export function valueRanges(block: Buffer, names: ReadonlyArray<string>): Array<{ from: number; to: number }> {
  const prefixes = names.map((n) => Buffer.from(`${n}=`));
  const ranges: Array<{ from: number; to: number }> = [];
  for (let at = 0; at < block.length; ) {
    let end = block.indexOf(0, at);
    if (end === -1) end = block.length;
    for (const p of prefixes) {
      if (end - at >= p.length && block.subarray(at, at + p.length).equals(p)) {
        if (end > at + p.length) ranges.push({ from: at + p.length, to: end });
        break;
      }
    }
    at = end + 1;
  }
  return ranges;
}

function wipeInitialEnvironment(names: ReadonlyArray<string>): void {
  const range = environmentRange(readFileSync('/proc/self/stat', 'latin1'));
  if (range === null) return;
  // /proc/self/environ is exactly the bytes from env_start to env_end.
  const block = readFileSync('/proc/self/environ');
  const ranges = valueRanges(block.subarray(0, range.end - range.start), names);
  block.fill(0);
  if (ranges.length === 0) return;
  const fd = openSync('/proc/self/mem', 'r+');
  try {
    for (const { from, to } of ranges) {
      const zeros = Buffer.alloc(to - from);
      writeSync(fd, zeros, 0, zeros.length, range.start + from);
    }
  } finally {
    closeSync(fd);
  }
}
