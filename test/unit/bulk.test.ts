import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkExists, importSecrets, readEnv, readSecrets } from '../../src/core/bulk.js';
import { VaultError } from '../../src/core/errors.js';
import { Vault } from '../../src/core/vault.js';
import { tempDir } from '../helpers/cli.js';
import { auditLog, rowsSnapshot as snapshot } from '../helpers/sqlite.js';

/** A vault with cheap KDF parameters (allowed through the library only), unlocked. */
async function cheapVault(now?: () => number): Promise<{ vault: Vault; path: string; cleanup: () => void }> {
  const { dir, cleanup } = tempDir();
  const path = join(dir, 'v.db');
  const vault = await Vault.create(path, { passphrase: Buffer.from('pw'), kdf: { name: 'scrypt', params: { N: 2 ** 14, r: 8, p: 1 } }, ...(now ? { now } : {}) });
  return {
    vault,
    path,
    cleanup: () => {
      vault.close();
      cleanup();
    },
  };
}

const put = (vault: Vault, ns: string, name: string, value: string, expiresAt: number | null = null): void => {
  vault.put({ ns, name }, Buffer.from(value), { force: true, expiresAt });
};

function code(e: unknown): string {
  assert.ok(e instanceof VaultError, String(e));
  return `${e.code}: ${e.message}`;
}

test('readEnv returns the namespace as an environment, with one audit entry', async () => {
  const { vault, path, cleanup } = await cheapVault();
  try {
    put(vault, 'default', 'B', 'two');
    put(vault, 'default', 'A', 'one\nline');
    put(vault, 'other', 'C', 'elsewhere');
    assert.deepEqual(readEnv(vault, { ns: 'default' }), { A: 'one\nline', B: 'two' });
    assert.deepEqual(readEnv(vault, { ns: 'default', only: ['B'] }), { B: 'two' });
    assert.deepEqual(readEnv(vault, { ns: 'other', prefix: 'X' }), {});
    const entries = auditLog(path).filter((e) => e.op === 'env');
    assert.deepEqual(
      entries.map((e) => [e.ns, e.outcome, e.detail]),
      [
        ['default', 'ok', { names: ['A', 'B'] }],
        ['default', 'ok', { names: ['B'] }],
        ['other', 'ok', { names: [] }],
      ],
    );
  } finally {
    cleanup();
  }
});

test('readEnv refuses NUL and invalid UTF-8 naming the secret, and records the refusal', async () => {
  const { vault, path, cleanup } = await cheapVault();
  try {
    vault.put({ ns: 'default', name: 'NUL' }, Buffer.from([0x61, 0, 0x62]));
    vault.put({ ns: 'bin', name: 'RAW' }, Buffer.from([0xff, 0xfe]));
    assert.throws(() => readEnv(vault, { ns: 'default' }), (e) => code(e) === 'usage: secret default/NUL holds a NUL byte, which an environment variable cannot carry');
    assert.throws(() => readEnv(vault, { ns: 'bin' }), (e) => code(e) === 'usage: secret bin/RAW is not valid UTF-8, which cannot be passed in an environment variable');
    assert.deepEqual(
      auditLog(path).filter((e) => e.op === 'env').map((e) => e.outcome),
      ['denied', 'denied'],
    );
  } finally {
    cleanup();
  }
});

test('readSecrets: missing names and versions are not-found (not recorded, as the CLI refuses them before unlocking), expired versions are expired and recorded', async () => {
  let now = 1_000_000;
  const { vault, path, cleanup } = await cheapVault(() => now);
  try {
    put(vault, 'default', 'A', 'a1', 2_000_000);
    put(vault, 'default', 'A', 'a2');
    const prepare = (): number => 1;
    assert.throws(() => readSecrets(vault, { op: 'exec', ns: 'default', select: { only: ['A', 'B', 'C'] } }, prepare), (e) => code(e) === 'not-found: no secrets default/B, default/C');
    assert.throws(() => checkExists(vault, { op: 'inject', ns: 'default', refs: [{ ns: 'default', name: 'A', version: 3 }] }), (e) => code(e) === 'not-found: secret default/A has no version 3');
    now = 3_000_000;
    assert.throws(
      () => readSecrets(vault, { op: 'inject', ns: 'default', refs: [{ ns: 'default', name: 'A', version: 1 }] }, prepare),
      (e) => code(e) === 'expired: secret default/A@1 expired at 1970-01-01T00:33:20.000Z',
    );
    const value = readSecrets(vault, { op: 'inject', ns: 'default', refs: [{ ns: 'default', name: 'A', version: 1 }], allowExpired: true }, (r) => r.refs[0]!.value.toString());
    assert.equal(value, 'a1');
    assert.deepEqual(
      auditLog(path).filter((e) => e.op === 'exec' || e.op === 'inject').map((e) => [e.op, e.outcome]),
      [
        ['inject', 'expired'],
        ['inject', 'ok'],
      ],
    );
  } finally {
    cleanup();
  }
});

test('readSecrets commits its audit entry before returning, and not when prepare fails unexpectedly', async () => {
  const { vault, path, cleanup } = await cheapVault();
  try {
    put(vault, 'default', 'A', 'a');
    const before = auditLog(path).length;
    assert.throws(() =>
      readSecrets(vault, { op: 'export', ns: 'default', select: {} }, () => {
        throw new TypeError('boom');
      }),
    );
    assert.equal(auditLog(path).length, before);
    readSecrets(vault, { op: 'export', ns: 'default', select: {} }, () => {
      // Inside the transaction the entry is not yet visible to another connection.
      assert.equal(auditLog(path).length, before);
    });
    assert.equal(auditLog(path).length, before + 1);
  } finally {
    cleanup();
  }
});

test('importSecrets writes all in one transaction with one entry, or nothing on a clash', async () => {
  const { vault, path, cleanup } = await cheapVault();
  try {
    put(vault, 'default', 'A', 'old');
    vault.put({ ns: 'default', name: 'GONE' }, Buffer.from('x'));
    vault.rm({ ns: 'default', name: 'GONE' });
    const entries = [
      { name: 'A', value: Buffer.from('new') },
      { name: 'B', value: Buffer.from('b') },
      { name: 'GONE', value: Buffer.from('back') },
    ];
    const before = snapshot(path);
    assert.throws(() => importSecrets(vault, 'default', entries), (e) => code(e) === 'exists: secret default/A already exists; nothing was imported');
    assert.equal(snapshot(path), before);
    assert.deepEqual(importSecrets(vault, 'default', entries, { overwrite: true }), { created: ['B', 'GONE'], updated: ['A'] });
    assert.deepEqual(readEnv(vault, { ns: 'default' }), { A: 'new', B: 'b', GONE: 'back' });
    assert.equal(auditLog(path).filter((e) => e.op === 'import').length, 1);
    assert.throws(() => importSecrets(vault, 'default', [{ name: '9X', value: Buffer.from('') }]), (e) => code(e) === 'usage: invalid secret name "9X"');
  } finally {
    cleanup();
  }
});

test('readSecrets over many secrets of many sizes: each value, version and flag as stored, namespace secrets then references', async () => {
  const { vault, cleanup } = await cheapVault();
  try {
    // 1,500 secrets, some of them large, so that what a read keeps between finding and opening
    // them outgrows its first buffer several times, once by more than double at a time.
    const value = (i: number): string => (i === 700 ? 'L'.repeat(300_000) : `${i}:`.padEnd(i % 97 === 0 ? 20_000 : 1 + (i % 40), String.fromCharCode(97 + (i % 26))));
    const names = Array.from({ length: 1500 }, (_, i) => `S${String(i).padStart(4, '0')}`);
    importSecrets(vault, 'default', names.map((name, i) => ({ name, value: Buffer.from(value(i)) })));
    put(vault, 'default', 'S0003', 'second');
    vault.put({ ns: 'default', name: 'PLAIN' }, Buffer.from('not secret'), { force: true, notSecret: true });
    put(vault, 'other', 'R', 'referenced');
    const got = readSecrets(vault, { op: 'exec', ns: 'default', select: {}, refs: [{ ns: 'other', name: 'R' }, { ns: 'default', name: 'S0003', version: 1 }] }, (r) => ({
      secrets: r.secrets.map((s) => [s.ns, s.name, s.version, s.value.toString(), s.notSecret]),
      refs: r.refs.map((s) => [s.ns, s.name, s.version, s.value.toString(), s.notSecret]),
    }));
    const expected = [['default', 'PLAIN', 1, 'not secret', true], ...names.map((name, i) => ['default', name, name === 'S0003' ? 2 : 1, name === 'S0003' ? 'second' : value(i), false])];
    assert.equal(got.secrets.length, expected.length);
    assert.deepEqual(got.secrets, expected);
    assert.deepEqual(got.refs, [
      ['other', 'R', 1, 'referenced', false],
      ['default', 'S0003', 1, value(3), false],
    ]);
  } finally {
    cleanup();
  }
});
