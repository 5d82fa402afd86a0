import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { freshVault, runVault } from '../helpers/cli.js';
import { seed } from '../helpers/seed.js';
import { auditLog } from '../helpers/sqlite.js';

/**
 * exec checks the child's environment against execve's limits on the stored sizes, before
 * decrypting anything: over them it is a usage error (2) naming the limit, recorded as denied,
 * where the child would otherwise fail with E2BIG (126) after an audit entry saying ok.
 */

const linux = process.platform === 'linux';

/** ARG_MAX as Linux computes it for this process (and its children): a quarter of the stack limit. */
function argMax(): number {
  const m = /^Max stack size\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return Math.max(Math.floor(Number(m?.[1] ?? 8 * 1024 * 1024) / 4), 128 * 1024);
}

test('exec refuses an environment over ARG_MAX before decrypting, exit 2, and the audit says denied', { skip: !linux || argMax() > 4 * 1024 * 1024 }, async () => {
  const v = await freshVault();
  try {
    const count = Math.ceil(argMax() / 120_000) + 1;
    const secrets: Record<string, string> = {};
    for (let i = 0; i < count; i++) secrets[`BIG_${i}`] = String(i % 10).repeat(120_000);
    await seed(v, secrets);
    const marker = join(v.dir, 'ran');
    const r = await runVault(['exec', '--', process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, '')`], { env: v.env });
    assert.equal(r.status, 2);
    assert.equal(r.out, '');
    const lines = r.stderr.split('\n');
    assert.match(lines[0]!, new RegExp(`^vault: error: the command's environment would be \\d+ bytes with ${count} secrets, over this system's ARG_MAX limit of ${argMax()} bytes for a command's arguments and environment$`));
    assert.deepEqual(lines.slice(1), ['vault: hint: choose fewer secrets with --only or --prefix, or start from --pristine', '']);
    assert.equal(existsSync(marker), false);
    const last = auditLog(v.path).at(-1)!;
    assert.equal(last.op, 'exec');
    assert.equal(last.outcome, 'denied');
    // A selection that fits runs, and is recorded as ok.
    const ok = await runVault(['exec', '--only', 'BIG_0,BIG_1', '--', process.execPath, '-e', 'process.stdout.write(String(process.env.BIG_1.length))'], { env: v.env });
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.out, '120000');
    assert.equal(auditLog(v.path).at(-1)!.outcome, 'ok');
  } finally {
    v.cleanup();
  }
});

test('exec refuses one value over the per-variable limit (MAX_ARG_STRLEN), naming it, exit 2, denied', { skip: !linux }, async () => {
  const v = await freshVault();
  try {
    await seed(v, { SMALL: 'fine', HUGE: 'h'.repeat(200_000) });
    const marker = join(v.dir, 'ran');
    const r = await runVault(['exec', '--', process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, '')`], { env: v.env });
    assert.equal(r.status, 2);
    assert.equal(r.out, '');
    assert.equal(
      r.stderr,
      "vault: error: secret default/HUGE is 200000 bytes, over this system's limit of 131072 bytes for one environment variable\nvault: hint: leave it out with --only or --prefix, or read it with vault get\n",
    );
    assert.equal(existsSync(marker), false);
    const last = auditLog(v.path).at(-1)!;
    assert.deepEqual([last.op, last.outcome], ['exec', 'denied']);
  } finally {
    v.cleanup();
  }
});
