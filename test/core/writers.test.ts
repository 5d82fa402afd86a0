import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../helpers/cli.js';
import { cheapVault, openWithKey } from '../helpers/vaults.js';

/**
 * Eight processes writing through the library at once (src/store/db.ts immediate(): SQLite's
 * busy wait, then a jittered re-queue while others make progress): every write of every
 * process goes through, none sees "the vault is busy", and the file verifies afterwards.
 */

const WRITERS = 8;
const PUTS = 25;

const WRITER = `
const { openVault } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'dist', 'src', 'index.js')).href)});
const [path, key, id, puts] = process.argv.slice(2);
const v = await openVault({ path, unlock: { masterKey: key }, env: process.env });
try {
  for (let i = 0; i < Number(puts); i++) v.put('W' + id + '_' + i, 'value ' + id + ' ' + i);
} finally {
  v.close();
}
process.stdout.write('done ' + id);
`;

function run(args: string[], env: Record<string, string>): Promise<{ status: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('close', (status) => resolve({ status, out, err }));
  });
}

test(`${WRITERS} processes putting ${PUTS} secrets each through the library all succeed, none sees "busy"`, async () => {
  const v = await cheapVault();
  try {
    const script = join(v.dir, 'writer.mjs');
    writeFileSync(script, WRITER);
    const results = await Promise.all(
      Array.from({ length: WRITERS }, (_, id) => run([script, v.path, v.masterKey, String(id), String(PUTS)], { HOME: v.dir, XDG_STATE_HOME: v.state })),
    );
    assert.deepEqual(
      results.map((r) => [r.status, r.out, r.err]),
      Array.from({ length: WRITERS }, (_, id) => [0, `done ${id}`, '']),
    );
    const vault = await openWithKey(v);
    try {
      const names = vault.list({ ns: 'default' }).map((s) => s.name);
      assert.equal(names.length, WRITERS * PUTS);
      for (let id = 0; id < WRITERS; id++) for (let i = 0; i < PUTS; i++) assert.ok(names.includes(`W${id}_${i}`), `W${id}_${i} stored`);
      assert.equal(vault.get({ ns: 'default', name: 'W7_24' }).value.toString(), 'value 7 24');
      const verified = vault.verifyAudit();
      assert.equal(verified.failure, null);
      assert.equal(verified.pending, 0);
      const puts = vault.auditLog({}).filter((e) => e.op === 'put' && e.outcome === 'ok');
      assert.equal(puts.length, WRITERS * PUTS);
    } finally {
      vault.close();
    }
  } finally {
    v.cleanup();
  }
});
