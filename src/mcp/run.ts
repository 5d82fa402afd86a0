import { spawn } from 'node:child_process';
import { Masker } from '../exec/mask.js';

/** Each captured stream is cut at this many bytes (after masking), with a note. */
export const OUTPUT_CAP = 64 * 1024;

export interface CapturedRun {
  /** the exit status, or null when a signal ended the process */
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  stdoutCut: boolean;
  stderrCut: boolean;
  timedOut: boolean;
}

export interface RunSpec {
  file: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
  stdin?: string;
  timeoutMs: number;
  /** values to mask in both streams */
  mask: Buffer[];
}

/** The process groups of the commands running now: killed when the server stops. */
const running = new Set<number>();

/** Kills every command still running (the client went away mid-call): none outlives the server. */
export function killRunning(): void {
  for (const pid of running) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  running.clear();
}

/** A stream's bytes, masked as they arrive (split values too), kept up to OUTPUT_CAP. */
class Capture {
  private readonly masker: Masker;
  private readonly parts: Buffer[] = [];
  private size = 0;
  cut = false;

  constructor(mask: Buffer[]) {
    this.masker = new Masker(mask);
  }

  private keep(bytes: Buffer): void {
    if (bytes.length === 0) return;
    const room = OUTPUT_CAP - this.size;
    if (bytes.length > room) this.cut = true;
    if (room <= 0) return;
    const part = bytes.length > room ? bytes.subarray(0, room) : bytes;
    this.parts.push(Buffer.from(part));
    this.size += part.length;
  }

  write(chunk: Buffer): void {
    // Past the cap the stream is still read (and masked, so the automaton stays in step) but dropped.
    const out = this.masker.write(chunk);
    this.keep(out);
  }

  text(): string {
    this.keep(this.masker.end());
    return Buffer.concat(this.parts).toString('utf8');
  }
}

/**
 * Runs argv directly (no shell) in its own process group, stdin given or empty, stdout and
 * stderr captured, masked and capped. At the timeout the whole group is killed; when the
 * command exits, whatever it left running in its group is killed too, so that no stray
 * process keeps a granted secret in its environment. A command that cannot start rejects
 * with its one-line reason.
 */
export function runCaptured(spec: RunSpec): Promise<CapturedRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(spec.file, spec.args, {
      env: spec.env,
      ...(spec.cwd !== undefined ? { cwd: spec.cwd } : {}),
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
      shell: false,
    });
    if (child.pid !== undefined) running.add(child.pid);
    const out = new Capture(spec.mask);
    const err = new Capture(spec.mask);
    let timedOut = false;
    let exited = false;
    const killGroup = (): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, spec.timeoutMs);
    child.stdout.on('data', (c: Buffer) => out.write(c));
    child.stderr.on('data', (c: Buffer) => err.write(c));
    child.stdin.on('error', () => undefined);
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (!exited) reject(new Error(e.code === 'ENOENT' ? `cannot run ${spec.file}: no such program or cwd` : `cannot run ${spec.file}: ${e.code ?? e.message}`));
    });
    child.on('exit', () => {
      exited = true;
      killGroup();
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (child.pid === undefined) return;
      running.delete(child.pid);
      resolve({
        exitCode: code,
        signal,
        stdout: out.text(),
        stderr: err.text(),
        stdoutCut: out.cut,
        stderrCut: err.cut,
        timedOut,
      });
    });
    if (spec.stdin !== undefined) child.stdin.end(spec.stdin);
    else child.stdin.end();
  });
}
