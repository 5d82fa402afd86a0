import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { importSecrets, readSecrets } from '../../src/core/bulk.js';
import type { VersionedRef } from '../../src/core/names.js';
import { Vault } from '../../src/core/vault.js';
import { addMasterKey } from '../../src/unlock/slots.js';
import { parseMasterKey } from '../../src/unlock/masterkey.js';
import { baseEnv, BIN, PASSPHRASE, ROOT, runVault, tempDir } from '../helpers/cli.js';
import { sql } from '../helpers/sqlite.js';

/**
 * SIGKILL during `vault rotate --master` at many moments: before the transaction, inside it
 * (while SQLite spills re-encrypted pages into the WAL), after the commit and during the
 * checkpoint. After each kill the vault must be wholly old or wholly new, and every value of
 * every version must read back.
 */

const SECRETS = 2500;
const VERSIONS = 2;

function valueOf(i: number, version: number): Buffer {
  const seed = createHash('sha256').update(`S${i}@${version}`).digest('hex');
  return Buffer.from(`${i}:${version}:${seed.repeat(12)}`);
}

async function build(path: string): Promise<string> {
  const vault = await Vault.create(path, { passphrase: Buffer.from(PASSPHRASE), kdf: { name: 'scrypt', params: { N: 2 ** 14, r: 8, p: 1 } } });
  try {
    const { key } = await addMasterKey(vault, 'ci');
    // One import per namespace and version (importSecrets: one transaction, one state record
    // each) instead of a put per version: each put re-MACs the state of every secret, so
    // thousands of puts cost quadratic time; the versions stored are the same.
    for (let v = 1; v <= VERSIONS; v++) {
      for (const ns of ['other', 'default']) {
        const entries = [];
        for (let i = ns === 'default' ? 1 : 0; i < SECRETS; i += 2) entries.push({ name: `S${i}`, value: valueOf(i, v) });
        importSecrets(vault, ns, entries, { overwrite: true });
      }
    }
    return key;
  } finally {
    vault.close();
  }
}

/**
 * Every version of every secret, through the library, unlocked with the master key: one bulk
 * read of all of them as versioned references (as `inject` reads vault://NS/NAME@V), which
 * decrypts and checks each ciphertext as `get` does, in one transaction with one audit entry
 * instead of 5000.
 */
async function readEverything(path: string, key: string): Promise<void> {
  const vault = Vault.open(path);
  try {
    await vault.unlockWithMasterKey(parseMasterKey(key, 'test'));
    const refs: VersionedRef[] = [];
    for (let i = 0; i < SECRETS; i++) {
      for (let v = 1; v <= VERSIONS; v++) refs.push({ ns: i % 2 ? 'default' : 'other', name: `S${i}`, version: v });
    }
    const got = readSecrets(vault, { op: 'export', ns: 'default', refs }, (result) => result.refs);
    assert.equal(got.length, refs.length);
    for (const [k, ref] of refs.entries()) {
      const one = got[k]!;
      assert.deepEqual([one.ns, one.name, one.version], [ref.ns, ref.name, ref.version]);
      const i = Number(ref.name.slice(1));
      assert.ok(one.value.equals(valueOf(i, ref.version!)), `${ref.name}@${ref.version} read back wrong`);
    }
  } finally {
    vault.close();
  }
}

/** The nonces of every ciphertext and wrapped key, and the sealed audit key. */
function fingerprint(path: string): { rows: Map<string, string>; audit: string } {
  const rows = new Map<string, string>();
  for (const r of sql(path, 'SELECT secret_id, version, hex(nonce) n FROM versions')) rows.set(`v${r.secret_id}/${r.version}`, String(r.n));
  for (const r of sql(path, 'SELECT id, hex(nonce) n, hex(pending) p FROM slots')) rows.set(`s${r.id}`, `${String(r.n)}:${String(r.p)}`);
  return { rows, audit: String(sql(path, `SELECT value FROM meta WHERE key = 'audit_keys'`)[0]!.value) };
}

/**
 * When to kill: a time after the start, a WAL size reached, or `checkpoint`: the first moment
 * the WAL is seen smaller than its peak (of at least 1 MiB), i.e. after the commit, once the
 * checkpoint has begun to empty it.
 */
type Moment = { afterMs: number } | { walBytes: number } | { checkpoint: true };

/** Starts `vault rotate --master` and SIGKILLs it at the moment given (unless it ends first). */
function rotateAndKill(path: string, key: string, moment: Moment): Promise<{ status: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const env = { ...baseEnv(ROOT), VAULT_PATH: path, VAULT_MASTER_KEY: key };
    const child = spawn(process.execPath, [BIN, 'rotate', '--master'], { env, stdio: 'ignore' });
    const wal = `${path}-wal`;
    const kill = (): void => {
      child.kill('SIGKILL');
    };
    let timer: NodeJS.Timeout;
    if ('afterMs' in moment) {
      timer = setTimeout(kill, moment.afterMs);
    } else {
      let peak = 0;
      timer = setInterval(() => {
        const size = existsSync(wal) ? statSync(wal).size : 0;
        if ('walBytes' in moment ? size >= moment.walBytes : peak >= 1024 * 1024 && size < peak) kill();
        peak = Math.max(peak, size);
      }, 1);
    }
    child.on('error', reject);
    child.on('exit', (status, signal) => {
      clearTimeout(timer);
      clearInterval(timer);
      resolve({ status, signal });
    });
  });
}

test('SIGKILL at any moment of rotate --master leaves the old vault or the new one, never a mix', async (t) => {
  const tmp = tempDir();
  try {
    const path = join(tmp.dir, 'vault.db');
    const key = await build(path);
    let state = fingerprint(path);
    assert.equal(state.rows.size, SECRETS * VERSIONS + 2);
    const moments: Moment[] = [
      { afterMs: 50 },
      { afterMs: 150 },
      { afterMs: 300 },
      { walBytes: 64 * 1024 },
      { walBytes: 1024 * 1024 },
      { walBytes: 3 * 1024 * 1024 },
      { walBytes: 5 * 1024 * 1024 },
      { afterMs: 450 },
      { afterMs: 600 },
      { afterMs: 900 },
      // The file is compact (seeded by import), so the WAL-size moments above may all land
      // before the commit: this one comes after it.
      { checkpoint: true },
    ];
    const outcomes: string[] = [];
    for (const moment of moments) {
      assert.ok(!existsSync(`${path}-wal`) || statSync(`${path}-wal`).size === 0, 'the WAL was not emptied by the last reader');
      const run = await rotateAndKill(path, key, moment);
      const now = fingerprint(path);
      let same = 0;
      for (const [row, nonce] of now.rows) if (state.rows.get(row) === nonce) same++;
      assert.equal(now.rows.size, state.rows.size);
      const old = same === now.rows.size && now.audit === state.audit;
      const fresh = same === 0 && now.audit !== state.audit;
      assert.ok(old || fresh, `a mix after ${JSON.stringify(moment)}: ${same} of ${now.rows.size} rows unchanged`);
      outcomes.push(`${JSON.stringify(moment)}: ${run.signal ?? `exit ${run.status}`}, ${old ? 'old' : 'new'} vault`);
      await readEverything(path, key);
      state = fingerprint(path);
    }
    t.diagnostic(outcomes.join('; '));
    // After all that, every slot still opens the vault: a completed rotation, then the CLI.
    const done = await runVault(['rotate', '--master'], { env: { VAULT_PATH: path, VAULT_MASTER_KEY: key } });
    assert.equal(done.status, 0, done.stderr);
    assert.equal(done.stderr, `rotated the data key: re-encrypted ${SECRETS * VERSIONS} versions, re-wrapped 2 key slots (1 takes the new key at its next unlock)\n`);
    for (const env of [{ VAULT_MASTER_KEY: key }, { VAULT_PASSPHRASE: PASSPHRASE }]) {
      const r = await runVault(['get', 'S7', '--version', '1'], { env: { VAULT_PATH: path, ...env } });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(r.stdout, valueOf(7, 1));
    }
    await readEverything(path, key);
  } finally {
    tmp.cleanup();
  }
});
