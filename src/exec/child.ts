import { spawn, type ChildProcess } from 'node:child_process';
import { Socket } from 'node:net';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';

/**
 * Runs the child of `vault exec` (SPEC §7) and reports how it ended. No shell: `file` is
 * looked up in the child's PATH and gets `args` untouched. stdin is always inherited; stdout
 * and stderr are inherited too unless `output` asks for them to pass through a filter.
 *
 * Signals: SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent to vault are sent on to the
 * child, and vault does not die of them while the child runs (the child decides). SIGINT is
 * forwarded too, except when vault's stdin is a terminal: then Ctrl-C already reached the
 * child, which is in the same foreground process group, and a second one would make a
 * program that asks "press Ctrl-C again to quit" quit at once; vault only ignores it.
 */

export const FORWARDED_SIGNALS: ReadonlyArray<NodeJS.Signals> = ['SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

export interface ChildSpec {
  file: string;
  args: string[];
  env: Record<string, string>;
  /** vault's stdin is a terminal (SIGINT comes from it to the whole foreground group) */
  terminal: boolean;
  /** filter the child's stdout and stderr into these streams (which are not ended) */
  output?: {
    stdout: Writable;
    stderr: Writable;
    /** a fresh filter for each of the two streams */
    filter: () => OutputFilter;
    /**
     * `stdout` and `stderr` are done with a chunk once its write callback has run, as node's
     * own streams (files, pipes, terminals) are: the child's output can then be read into
     * buffers used again and again. A Writable that keeps the chunks it is given must not
     * say so.
     */
    releasesChunks?: boolean;
  };
}

/** What `output` passes a child's stream through (a Masker is one). */
export interface OutputFilter {
  /**
   * Takes the next chunk; returns the output it decides, in order, as pieces that may share
   * memory with the chunk (they are written before the chunk's memory is used again).
   */
  writeParts(chunk: Uint8Array): Uint8Array[];
  /** The input has ended: returns what is still held back. */
  end(): Uint8Array;
}

export type ChildResult =
  /** the child ran; `status` is its exit status, or 128+N when it died of signal N */
  | { started: true; status: number; signal: NodeJS.Signals | null }
  /** the child could not be started: 127 not found, 126 not runnable, 1 anything else */
  | { started: false; status: number; message: string };

/** Exit statuses of a command that could not be run, as shells report them. */
const NOT_FOUND = new Set(['ENOENT', 'ENOTDIR']);
const NOT_RUNNABLE: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOEXEC: 'exec format error',
  EISDIR: 'is a directory',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'file name too long',
  ETXTBSY: 'text file busy',
  E2BIG: 'argument list too long',
};

function startFailure(file: string, e: unknown): ChildResult {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  if (NOT_FOUND.has(code)) return { started: false, status: 127, message: `command not found: ${file}` };
  const why = NOT_RUNNABLE[code];
  if (why !== undefined) return { started: false, status: 126, message: `cannot run ${file}: ${why}` };
  return { started: false, status: 1, message: `cannot start ${file}: ${code || (e as Error).message}` };
}

/** The status a shell reports for a child that died of `signal`: 128 + its number. */
export function signalStatus(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}

export function runChild(spec: ChildSpec): Promise<ChildResult> {
  return new Promise((resolve) => {
    const piped = spec.output !== undefined;
    let child: ChildProcess;
    try {
      child = spawn(spec.file, spec.args, {
        env: spec.env,
        stdio: ['inherit', piped ? 'pipe' : 'inherit', piped ? 'pipe' : 'inherit'],
      });
    } catch (e) {
      // Some start failures (ENOEXEC, E2BIG…) are thrown rather than emitted.
      resolve(startFailure(spec.file, e));
      return;
    }

    const listeners: Array<[NodeJS.Signals, () => void]> = [];
    const forward = (signal: NodeJS.Signals) => (): void => {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          child.kill(signal);
        } catch {
          // the child is already gone
        }
      }
    };
    for (const signal of FORWARDED_SIGNALS) listeners.push([signal, forward(signal)]);
    listeners.push(['SIGINT', spec.terminal ? () => undefined : forward('SIGINT')]);
    for (const [signal, listener] of listeners) process.on(signal, listener);

    // --mask: each of the child's streams is copied through its filter by hand (not with
    // pipeline) so that the copy can be ended without waiting for EOF: a background process the
    // child started (`sh -c 'server & echo started'`) inherits the pipe and may hold it open long
    // after the child is gone. vault returns when the child exits; what is still in the pipe then
    // is copied until the pipe has gone quiet, the filter flushes what it held back, and vault's
    // end of the pipe is closed (a later write by the background process gets EPIPE, as under any
    // program that stops reading).
    const pumps: Pump[] = [];
    if (spec.output) {
      const { stdout, stderr, filter, releasesChunks } = spec.output;
      for (const [source, dest] of [
        [child.stdout as Readable, stdout],
        [child.stderr as Readable, stderr],
      ] as const) {
        pumps.push(pump(source, dest, filter(), releasesChunks === true));
      }
    }

    let settled = false;
    const finish = (result: ChildResult): void => {
      if (settled) return;
      settled = true;
      for (const [signal, listener] of listeners) process.removeListener(signal, listener);
      resolve(result);
    };
    let started = false;
    child.once('spawn', () => {
      started = true;
    });
    child.once('error', (e) => {
      if (!started) finish(startFailure(spec.file, e));
    });
    child.once('exit', (code, signal) => {
      if (!started) return;
      // Every byte the filters hold back (a possible start of a value) is out before the status.
      void drainAfterExit(pumps).then(() => finish({ started: true, status: signal ? signalStatus(signal) : (code ?? 1), signal: signal ?? null }));
    });
  });
}

/** 50 ms, then a turn of the event loop's poll phase: the quiet window of drainAfterExit. */
function pollAfter50ms(): Promise<void> {
  return new Promise<void>((res) => setTimeout(() => setImmediate(res), 50));
}

/**
 * After the child's exit: resolves once every copy is done, or the pipes have been quiet for a
 * window (`quiet`, by default pollAfter50ms): no copy saw activity (a chunk read, reading
 * resumed) and none is paused for its destination. Then the copies are stopped.
 * Exported for test/unit/exec-drain.test.ts, which passes a window of its own.
 */
export async function drainAfterExit(pumps: Pump[], quiet: () => Promise<void> = pollAfter50ms): Promise<void> {
  if (pumps.length === 0) return;
  const all = Promise.all(pumps.map((p) => p.done)).then(() => true);
  const activity = (): number => pumps.reduce((sum, p) => sum + p.activity(), 0);
  for (;;) {
    const seen = activity();
    if (await Promise.race([all, quiet().then(() => false)])) return;
    // The poll phase ran before this check: data that was waiting in the pipe has been read
    // — unless reading is paused because the destination is behind (a slow reader of
    // vault's output): then the pipe is not quiet, vault is not looking at it. A copy that
    // resumed in this window counts as activity (see pump): its next read is still to come.
    if (activity() === seen && !pumps.some((p) => p.waiting())) break;
  }
  for (const p of pumps) p.stop();
  await all;
}

export interface Pump {
  /** resolves once the copy is over: the source ended or failed, or the destination failed */
  done: Promise<void>;
  /** stops reading now and writes what the filter still holds */
  stop: () => void;
  /** reading is paused until the destination has written what it holds */
  waiting: () => boolean;
  /** how many chunks were read and how many times reading resumed, so far */
  activity: () => number;
}

const EMPTY = Buffer.alloc(0);

/** The size of the buffers a child's output is read into. */
const READ_SIZE = 64 * 1024;

/** Outputs smaller than this that come in several pieces are joined into one write. */
const JOIN_BELOW = 16 * 1024;

/** A buffer the child's output is read into, and how many writes of its bytes are unfinished. */
interface ReadBuffer {
  bytes: Buffer;
  pending: number;
}

/**
 * Copies `source` (a child's stdout or stderr) through `filter` into `dest` (not ended);
 * `activity()` counts the chunks read and the times reading resumed after a pause.
 *
 * A pipe the child_process module made is read through a socket over the same handle with
 * net.Socket's `onread` option, so that vault chooses the buffers it is read into. With
 * `reuse` (see `releasesChunks`), a few buffers serve again and again: read as a stream,
 * every chunk is a fresh 64 KiB allocation, and at hundreds of MB/s the page faults of that
 * fresh memory and the garbage collection cost about as much as masking the bytes. A buffer
 * is read into again only once every write of its bytes has finished (a pipe or a terminal
 * that is behind keeps a reference until then). Reading pauses while `dest` holds unwritten
 * data and resumes on its `drain`, as `pipe` does — but not merely because a write was larger
 * than its highWaterMark: a file, /dev/null or a pipe with room takes every write at once.
 * Without a handle (another kind of stream) the source is read as a stream.
 */
export function pump(source: Readable, dest: Writable, filter: OutputFilter, reuse: boolean): Pump {
  let activity = 0;
  let ended = false;
  let failed = false;
  let paused = false;
  let resolveDone!: () => void;
  const done = new Promise<void>((res) => {
    resolveDone = res;
  });
  const buffers: ReadBuffer[] = [];

  /** Writes the filter's output for `chunk`, whose memory is `owner`'s; false to pause reading. */
  const deliver = (chunk: Uint8Array, owner: ReadBuffer | undefined): boolean => {
    activity++;
    if (failed) return true;
    const pieces = filter.writeParts(chunk);
    let size = 0;
    let count = 0;
    for (const piece of pieces) {
      size += piece.length;
      if (piece.length > 0) count++;
    }
    if (count === 0) return true;
    if (count > 1 && size < JOIN_BELOW) {
      // A copy: `owner` may be read into again as soon as this returns.
      dest.write(Buffer.concat(pieces));
    } else {
      let left = count;
      if (owner !== undefined) owner.pending++;
      // Writes finish in order: the last one's callback means the buffer is free again.
      const release = owner === undefined ? undefined : (): void => void owner.pending--;
      for (const piece of pieces) if (piece.length > 0) dest.write(piece, --left === 0 ? release : undefined);
    }
    if (dest.writableNeedDrain && dest.writableLength > 0) paused = true;
    return !paused;
  };

  const finish = (): void => {
    if (ended) return;
    ended = true;
    // What the child printed, values not yet masked included, does not stay in memory longer
    // than needed: once the last write is done, so are the ones before it.
    const wipe = (): void => {
      for (const b of buffers) if (b.pending === 0) b.bytes.fill(0);
    };
    if (failed) {
      wipe();
      resolveDone();
    } else {
      // Done once the last write is: vault exits right after, and a write still pending on a
      // pipe or a terminal (stderr, say, while stdout is a file) would be lost.
      const rest = filter.end();
      dest.write(rest.length > 0 ? rest : EMPTY, () => {
        wipe();
        resolveDone();
      });
    }
  };

  let reader: Readable = source;
  const handle = (source as Readable & { _handle?: unknown })._handle;
  if (source instanceof Socket && typeof handle === 'object' && handle !== null) {
    let current: ReadBuffer | undefined;
    const next = (): Buffer => {
      current = reuse ? buffers.find((b) => b.pending === 0) : undefined;
      if (current === undefined) {
        current = { bytes: Buffer.allocUnsafeSlow(READ_SIZE), pending: 0 };
        // The pool stays small: a destination that keeps more buffers busy has paused reading.
        if (reuse && buffers.length < 8) buffers.push(current);
      }
      return current.bytes;
    };
    // The new socket takes the handle over: the handle's reads now land in `onread`, and
    // child.stdout, which still refers to it, gets nothing. This runs in the tick of the spawn,
    // before the first read. (`handle` is not in net.Socket's documented options, `onread` is;
    // a pipe can be neither made nor duplicated by fd without native code.)
    reader = new Socket({
      handle,
      readable: true,
      writable: false,
      onread: { buffer: next, callback: (n: number, buf: Uint8Array) => deliver(buf.subarray(0, n), current) },
    } as ConstructorParameters<typeof Socket>[0]);
  } else {
    source.on('data', (chunk: Buffer) => {
      if (!deliver(chunk, undefined)) source.pause();
    });
  }
  dest.on('drain', () => {
    if (!paused) return;
    paused = false;
    // Counts as activity for the quiet-pipe wait after the child's exit (drainAfterExit):
    // reading starts again only at the next poll of the event loop, and a check for quiet made
    // before it (the destination drained in the same turn as the wait's timer) would end the
    // copy with the rest of the child's output still in the pipe.
    activity++;
    reader.resume();
  });
  // A destination that fails (a closed pipe) stops the copy; the child then meets the closed
  // pipe itself, as it would under a shell.
  dest.once('error', () => {
    failed = true;
    reader.destroy();
    finish();
  });
  reader.once('end', finish);
  reader.once('error', finish);
  return {
    done,
    stop: () => {
      reader.destroy();
      finish();
    },
    waiting: () => paused && !ended,
    activity: () => activity,
  };
}
