import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { runInProcess } from '../helpers/cli.js';
import { cheapVault, openWithKey } from '../helpers/vaults.js';
import { slotPublicKey } from '../../src/crypto/slotwrap.js';

/** `vault identity`: the user's X25519 key pair for team vaults, kept in their personal vault. */

let v: Awaited<ReturnType<typeof cheapVault>>;
before(async () => {
  v = await cheapVault();
});
after(() => v?.cleanup());

const PUB = /^vault-pub1[A-Za-z0-9_-]{43}$/;

function expectedFingerprint(publicKey: string): string {
  const raw = Buffer.from(publicKey.slice('vault-pub1'.length), 'base64url');
  return createHash('sha256').update('vault/identity-fingerprint/v1\0').update(raw).digest('hex').slice(0, 20).match(/.{4}/g)!.join(' ');
}

test('made on first use, the same afterwards; stdout is the public key alone', async () => {
  const first = await runInProcess(['identity'], { env: v.env });
  assert.equal(first.status, 0, first.stderr);
  const key = first.out.trimEnd();
  assert.match(key, PUB);
  assert.equal(first.out, `${key}\n`);
  assert.equal(first.stderr, `created an identity in ${v.path}\nfingerprint: ${expectedFingerprint(key)}\n`);

  const again = await runInProcess(['identity'], { env: v.env });
  assert.deepEqual([again.status, again.out, again.stderr], [0, `${key}\n`, `fingerprint: ${expectedFingerprint(key)}\n`]);

  const json = await runInProcess(['identity', '--json'], { env: v.env });
  assert.equal(json.status, 0);
  assert.deepEqual(JSON.parse(json.out), { publicKey: key, fingerprint: expectedFingerprint(key), created: false, vault: v.path });
});

test('the private half is a 32-byte secret in the personal vault whose public key is the one printed', async () => {
  const printed = (await runInProcess(['identity'], { env: v.env })).out.trimEnd();
  const list = await runInProcess(['list', '--ns', 'vault.identity'], { env: v.env });
  assert.deepEqual([list.status, list.out], [0, 'X25519_KEY\n']);
  const vault = await openWithKey(v);
  try {
    const secret = vault.get({ ns: 'vault.identity', name: 'X25519_KEY' }).value;
    assert.equal(secret.length, 32);
    assert.equal(`vault-pub1${slotPublicKey(secret).toString('base64url')}`, printed);
    // the secret itself is printed nowhere: not as the key, not in the audit log
    const audit = await runInProcess(['audit', '--json'], { env: v.env });
    for (const text of [printed, audit.out]) {
      assert.equal(text.includes(secret.toString('base64url')), false);
      assert.equal(text.includes(secret.toString('hex')), false);
      assert.equal(text.includes(secret.toString('base64')), false);
    }
  } finally {
    vault.close();
  }
});

test('with a team vault (postgres://) in VAULT_PATH, the identity comes from the local vault at the default path', async () => {
  const printed = (await runInProcess(['identity'], { env: v.env })).out;
  const r = await runInProcess(['identity'], {
    env: { VAULT_PATH: 'postgres://nobody@127.0.0.1:1/none?vault=team', XDG_DATA_HOME: v.dir, VAULT_MASTER_KEY: v.masterKey, XDG_STATE_HOME: v.state },
  });
  assert.deepEqual([r.status, r.out], [0, printed]);
});

test('a locked personal vault: exit 4, nothing made', async () => {
  const other = await cheapVault();
  try {
    const r = await runInProcess(['identity'], { env: { VAULT_PATH: other.path, XDG_STATE_HOME: other.state } });
    assert.equal(r.status, 4);
    assert.equal(r.out, '');
    assert.match(r.stderr, /^vault: error: the vault is locked and no way to unlock it was given\n/);
    const list = await runInProcess(['list', '--ns', 'vault.identity'], { env: { VAULT_PATH: other.path, XDG_STATE_HOME: other.state } });
    assert.deepEqual([list.status, list.out], [0, '']);
  } finally {
    other.cleanup();
  }
});
