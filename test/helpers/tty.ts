import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The one terminal driver of the tests: a real terminal for a command, a detached tmux session
 * on a private server socket. The test waits for text on the screen (polling, with a generous
 * limit: no timing is asserted), types text, presses keys (Enter, C-c, C-d) and pastes (as a
 * terminal emulator does, bracketed when the program asked for it). Needs tmux.
 */
export class Terminal {
  private constructor(
    private readonly socket: string,
    private readonly statusFile: string,
    private readonly logFile: string,
  ) {}

  static hasTool(tool: string): boolean {
    return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
  }

  static hasTmux(): boolean {
    return Terminal.hasTool('tmux');
  }

  /** Starts `argv` (no shell parsing) with exactly `env`, in a terminal of `size` (default 200x50). */
  static start(argv: string[], env: Record<string, string>, dir: string, size: { columns: number; rows: number } = { columns: 200, rows: 50 }): Terminal {
    const socket = `vault-test-${randomBytes(6).toString('hex')}`;
    const statusFile = join(dir, `${socket}.status`);
    const logFile = join(dir, `${socket}.log`);
    const go = join(dir, `${socket}.go`);
    const script = join(dir, `${socket}.sh`);
    const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
    // The pane waits until its output is being logged, runs the command, keeps its exit status
    // in a file, then waits so the screen can still be read.
    writeFileSync(
      script,
      `while [ ! -e ${q(go)} ]; do sleep 0.02; done\nexec env -i ${Object.entries(env).map(([k, v]) => q(`${k}=${v}`)).join(' ')} bash -c ${q(`${argv.map(q).join(' ')}; echo $? > ${q(statusFile)}; sleep 600`)}\n`,
    );
    const r = spawnSync('tmux', ['-L', socket, '-f', '/dev/null', 'new-session', '-d', '-x', String(size.columns), '-y', String(size.rows), 'bash', script], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`tmux failed: ${r.stderr}`);
    const p = spawnSync('tmux', ['-L', socket, 'pipe-pane', '-o', `cat > ${q(logFile)}`], { encoding: 'utf8' });
    if (p.status !== 0) throw new Error(`tmux pipe-pane failed: ${p.stderr}`);
    writeFileSync(go, '');
    return new Terminal(socket, statusFile, logFile);
  }

  /** Every byte the command wrote to the terminal (escape sequences and CRs included). */
  raw(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  screen(): string {
    const r = spawnSync('tmux', ['-L', this.socket, 'capture-pane', '-p', '-J', '-S', '-200'], { encoding: 'utf8' });
    return r.stdout.replace(/\s+$/gm, '').replace(/\n+$/, '');
  }

  async waitFor(pattern: RegExp, limitMs = 30_000): Promise<string> {
    const end = Date.now() + limitMs;
    for (;;) {
      const text = this.screen();
      if (pattern.test(text)) return text;
      if (Date.now() > end) throw new Error(`timed out waiting for ${pattern} on the terminal:\n${text}`);
      await sleep(50);
    }
  }

  /** Types text literally, then Enter when asked. */
  type(text: string, enter = true): void {
    spawnSync('tmux', ['-L', this.socket, 'send-keys', '-l', text]);
    if (enter) spawnSync('tmux', ['-L', this.socket, 'send-keys', 'Enter']);
  }

  /** Presses one key by its tmux name: Enter, C-c, C-d, BSpace, Up… */
  key(name: string): void {
    spawnSync('tmux', ['-L', this.socket, 'send-keys', name]);
  }

  /**
   * Pastes text as a terminal emulator does: in one write, newlines as CR, wrapped in the
   * bracketed-paste markers when the program has turned that mode on.
   */
  paste(text: string): void {
    const name = `paste-${randomBytes(4).toString('hex')}`;
    spawnSync('tmux', ['-L', this.socket, 'set-buffer', '-b', name, '--', text]);
    spawnSync('tmux', ['-L', this.socket, 'paste-buffer', '-p', '-d', '-b', name]);
  }

  /** The command's exit status, once it has ended. */
  async exitStatus(limitMs = 60_000): Promise<number> {
    const end = Date.now() + limitMs;
    for (;;) {
      try {
        const text = readFileSync(this.statusFile, 'utf8');
        if (text.endsWith('\n')) return Number(text.trim());
      } catch {
        // not yet
      }
      if (Date.now() > end) throw new Error(`the command did not end:\n${this.screen()}`);
      await sleep(50);
    }
  }

  close(): void {
    spawnSync('tmux', ['-L', this.socket, 'kill-server']);
  }
}
