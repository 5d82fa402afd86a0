import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import type { Readable, Transform, Writable } from 'node:stream';

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
    filter: () => Transform;
  };
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
    const pumps: Array<{ done: Promise<void>; stop: () => void }> = [];
    let lastData = 0;
    if (spec.output) {
      const { stdout, stderr, filter } = spec.output;
      for (const [source, dest] of [
        [child.stdout as Readable, stdout],
        [child.stderr as Readable, stderr],
      ] as const) {
        const f = filter();
        let ended = false;
        const done = new Promise<void>((res) => {
          f.on('end', () => res());
          f.on('error', () => res());
          dest.once('error', () => res());
        });
        f.pipe(dest, { end: false });
        // A destination that fails (a closed pipe) stops the copy; the child then meets the
        // closed pipe itself, as it would under a shell.
        dest.once('error', () => {
          source.destroy();
          f.destroy();
        });
        const end = (): void => {
          if (ended) return;
          ended = true;
          f.end();
        };
        source.on('data', (chunk: Buffer) => {
          lastData++;
          if (!f.write(chunk)) source.pause();
        });
        f.on('drain', () => source.resume());
        source.once('end', end);
        source.once('error', end);
        pumps.push({
          done,
          stop: () => {
            source.removeAllListeners('data');
            source.destroy();
            end();
          },
        });
      }
    }

    /** After the child's exit: resolves once every copy is done, or the pipes have been quiet for a moment. */
    const drained = async (): Promise<void> => {
      if (pumps.length === 0) return;
      const all = Promise.all(pumps.map((p) => p.done)).then(() => true);
      for (;;) {
        const seen = lastData;
        const quiet = new Promise<boolean>((res) => setTimeout(() => setImmediate(() => res(false)), 50));
        if (await Promise.race([all, quiet])) return;
        // The poll phase ran before this check: data that was waiting in the pipe has been read.
        if (lastData === seen) break;
      }
      for (const p of pumps) p.stop();
      await all;
    };

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
      void drained().then(() => finish({ started: true, status: signal ? signalStatus(signal) : (code ?? 1), signal: signal ?? null }));
    });
  });
}
