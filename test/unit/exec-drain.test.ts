/**
 * `exec --mask`'s copy of a command's output after the command has exited (src/exec/child.ts,
 * drainAfterExit and pump), with a real child process and pipe, and a destination that holds
 * its writes until the test lets them finish (a reader of vault's output that is behind).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { drainAfterExit, pump, type Pump } from '../../src/exec/child.js';
import { Masker } from '../../src/exec/mask.js';

/** Takes writes and finishes none of them until `release` (then every later one at once). */
class SlowReader extends Writable {
  readonly received: Buffer[] = [];
  private pending: Array<(e?: Error | null) => void> = [];
  private held = true;

  constructor() {
    // One byte: any write leaves the stream needing a drain, so the copy pauses after its first.
    super({ highWaterMark: 1 });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (e?: Error | null) => void): void {
    this.received.push(Buffer.from(chunk));
    if (this.held) this.pending.push(callback);
    else callback();
  }

  release(): void {
    this.held = false;
    for (const callback of this.pending.splice(0)) callback();
  }
}

const pollAfter50ms = (): Promise<void> => new Promise((res) => setTimeout(() => setImmediate(res), 50));

/**
 * A child that prints `total` bytes of `char` and keeps its output open, and a copy of that
 * output (through a Masker) into a SlowReader, started in the tick of the spawn as runChild
 * does: the pump takes the pipe over before its first read.
 */
function slowCopy(total: number, char: string): { child: ChildProcess; dest: SlowReader; copy: Pump } {
  const child = spawn('sh', ['-c', `head -c ${total} /dev/zero | tr '\\0' ${char}; exec sleep 30`], { stdio: ['ignore', 'pipe', 'ignore'] });
  const dest = new SlowReader();
  const copy = pump(child.stdout!, dest, new Masker([Buffer.from('sk_test_0123456789')]), true);
  return { child, dest, copy };
}

test('drainAfterExit: a destination that drains just before the check for quiet does not cut the copy short', async () => {
  // More than one read (64 KiB): once the copy has paused, the rest waits in the pipe, which
  // `sleep` keeps open.
  const total = 81920;
  const { child, dest, copy } = slowCopy(total, 'x');
  try {
    for (let i = 0; i < 1000 && !copy.waiting(); i++) await new Promise((res) => setTimeout(res, 5));
    assert.equal(copy.waiting(), true, 'the copy paused for its destination');
    const before = Buffer.concat(dest.received).length;
    assert.ok(before > 0 && before < total, `read before the pause: ${before}`);
    let windows = 0;
    await drainAfterExit([copy], () => {
      windows++;
      // The second window ends the moment the destination drains: the copy resumes, but its
      // next read is only at the next poll of the event loop, after the check for quiet.
      if (windows === 2) return new Promise<void>((res) => {
        dest.once('drain', () => res());
        dest.release();
      });
      return pollAfter50ms();
    });
    assert.ok(windows > 2, 'the wait went on after the destination drained');
    const got = Buffer.concat(dest.received);
    assert.equal(got.length, total);
    assert.ok(got.equals(Buffer.alloc(total, 'x')));
  } finally {
    child.kill('SIGKILL');
  }
});

test('drainAfterExit: a copy paused for its destination is waited for through quiet windows, and is not cut short when it resumes at the end of one', async () => {
  const total = 81920;
  const { child, dest, copy } = slowCopy(total, 'y');
  try {
    let windows = 0;
    await drainAfterExit([copy], async () => {
      windows++;
      await pollAfter50ms();
      // five quiet windows while paused, then the reader catches up
      if (windows === 5) dest.release();
    });
    assert.ok(windows > 5);
    assert.equal(Buffer.concat(dest.received).length, total);
  } finally {
    child.kill('SIGKILL');
  }
});
