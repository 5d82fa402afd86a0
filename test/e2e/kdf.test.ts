import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { Vault } from '../../src/core/vault.js';
import type { KdfSpec } from '../../src/crypto/kdf.js';
import { passphraseVault, PASSPHRASE, runInProcess, tempDir, type InProcessOptions } from '../helpers/cli.js';
import { sql } from '../helpers/sqlite.js';

/** This file is about today's KDF defaults: its in-process runs write them, as the binary does. */
const cli = (args: string[], options: InProcessOptions = {}) => runInProcess(args, { ...options, realKdf: true });

interface StatusSlot {
  id: string;
  kind: string;
  kdf: string;
  kdfParams: string;
}

async function statusSlots(path: string): Promise<StatusSlot[]> {
  const r = await cli(['status', '--json'], { env: { VAULT_PATH: path } });
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.out) as { slots: StatusSlot[] }).slots;
}

/** A vault whose passphrase slot has weaker (but accepted) parameters, made through the library API. */
async function weakVault(kdf: KdfSpec) {
  const tmp = tempDir();
  const path = join(tmp.dir, 'vault.db');
  const vault = await Vault.create(path, { passphrase: Buffer.from(PASSPHRASE), kdf });
  vault.close();
  return { ...tmp, path, env: { VAULT_PATH: path, VAULT_PASSPHRASE: PASSPHRASE } };
}

for (const [kdf, from, to] of [
  [{ name: 'scrypt', params: { N: 2 ** 15, r: 8, p: 1 } }, 'N=32768,r=8,p=1', 'N=131072,r=8,p=1'],
  [{ name: 'pbkdf2-sha256', params: { iterations: 200_000 } }, 'iterations=200000', 'iterations=600000'],
] as Array<[KdfSpec, string, string]>) {
  test(`a ${kdf.name} slot below today's defaults is upgraded silently after a passphrase unlock`, async () => {
    const v = await weakVault(kdf);
    try {
      const [before] = await statusSlots(v.path);
      assert.equal(before!.kdfParams, from);
      const put = await cli(['put', 'A'], { env: v.env, input: 'value-a' });
      assert.equal(put.status, 0, put.stderr);
      assert.equal(put.stderr, 'stored default/A version 1\n');
      const [after] = await statusSlots(v.path);
      assert.equal(after!.id, before!.id);
      assert.equal(after!.kdf, kdf.name);
      assert.equal(after!.kdfParams, to);
      const get = await cli(['get', 'A'], { env: v.env });
      assert.equal(get.status, 0, get.stderr);
      assert.equal(get.out, 'value-a');
      const wrong = await cli(['get', 'A'], { env: { ...v.env, VAULT_PASSPHRASE: 'wrong' } });
      assert.equal(wrong.status, 5);
      const audit = sql(v.path, `SELECT op, outcome, detail FROM audit WHERE op = 'kdf-upgrade'`);
      assert.deepEqual(audit, [{ op: 'kdf-upgrade', outcome: 'ok', detail: JSON.stringify({ slot: before!.id, from: `${kdf.name} ${from}`, to: `${kdf.name} ${to}` }) }]);
    } finally {
      v.cleanup();
    }
  });
}

test('a master-key unlock leaves a weak passphrase slot alone (it needs the passphrase to upgrade)', async () => {
  const v = await weakVault({ name: 'scrypt', params: { N: 2 ** 14, r: 8, p: 1 } });
  try {
    const add = await cli(['key', 'add', '--label', 'ci', '--json'], { env: v.env });
    assert.equal(add.status, 0, add.stderr);
    // key add unlocked with the passphrase: upgraded already.
    assert.equal((await statusSlots(v.path))[0]!.kdfParams, 'N=131072,r=8,p=1');
  } finally {
    v.cleanup();
  }
});

const WRONG = 'vault: error: wrong passphrase or key\n';
const TAMPERED_HINT = 'vault: hint: the vault file may have been tampered with; restore it from a backup\n';

test('edited KDF parameters make the slot refuse to open: within bounds 5, out of bounds or malformed 7', async () => {
  const v = await passphraseVault();
  try {
    assert.equal((await cli(['put', 'A'], { env: v.env, input: 'x' })).status, 0);
    const original = sql(v.path, 'SELECT id, kdf, kdf_params FROM slots')[0]!;
    const id = String(original.id);
    const cases: Array<[string, string, number, string]> = [
      // within bounds: the parameters are bound into the wrap, so the slot just fails to open
      ['scrypt', 'N=65536,r=8,p=1', 5, WRONG],
      ['scrypt', 'N=262144,r=8,p=1', 5, WRONG],
      ['scrypt', 'N=131072,r=9,p=1', 5, WRONG],
      ['scrypt', 'N=131072,r=8,p=2', 5, WRONG],
      ['pbkdf2-sha256', 'iterations=600000', 5, WRONG],
      // below the floor or above the ceiling: refused before any key derivation
      ['scrypt', 'N=8192,r=8,p=1', 7, `vault: error: key slot kdf parameters (scrypt N=8192,r=8,p=1) are outside the accepted range\n${TAMPERED_HINT}`],
      ['scrypt', 'N=131072,r=1,p=1', 7, `vault: error: key slot kdf parameters (scrypt N=131072,r=1,p=1) are outside the accepted range\n${TAMPERED_HINT}`],
      ['scrypt', 'N=2097152,r=8,p=1', 7, `vault: error: key slot kdf parameters (scrypt N=2097152,r=8,p=1) are outside the accepted range\n${TAMPERED_HINT}`],
      ['scrypt', 'N=100000,r=8,p=1', 7, `vault: error: key slot kdf parameters (scrypt N=100000,r=8,p=1) are outside the accepted range\n${TAMPERED_HINT}`],
      ['pbkdf2-sha256', 'iterations=1000', 7, `vault: error: key slot kdf parameters (pbkdf2-sha256 iterations=1000) are outside the accepted range\n${TAMPERED_HINT}`],
      // malformed, or a passphrase slot switched to a KDF without work
      ['scrypt', 'N=0131072,r=8,p=1', 7, 'vault: error: key slot has malformed kdf parameter N\n'],
      ['scrypt', 'r=8,N=131072,p=1', 7, `vault: error: key slot ${id} has non-canonical kdf parameters\n`],
      ['none', '', 7, `vault: error: key slot ${id} (passphrase) cannot use kdf none\n`],
      ['hkdf-sha256', '', 7, `vault: error: key slot ${id} (passphrase) cannot use kdf hkdf-sha256\n`],
      ['argon2id', 'm=65536', 7, 'vault: error: key slot uses an unknown kdf "argon2id"\n'],
    ];
    for (const [kdf, params, status, stderr] of cases) {
      sql(v.path, `UPDATE slots SET kdf = '${kdf}', kdf_params = '${params}'`);
      const r = await cli(['get', 'A'], { env: v.env });
      assert.equal(r.status, status, `${kdf} ${params}: ${r.stderr}`);
      assert.equal(r.out, '');
      assert.equal(r.stderr, stderr, `${kdf} ${params}`);
    }
    sql(v.path, `UPDATE slots SET kdf = '${original.kdf}', kdf_params = '${original.kdf_params}'`);
    const ok = await cli(['get', 'A'], { env: v.env });
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.out, 'x');
  } finally {
    v.cleanup();
  }
});
