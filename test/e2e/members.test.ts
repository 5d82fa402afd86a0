import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { inCI } from '../../src/cli/io.js';
import { Terminal } from '../helpers/tty.js';
import { BIN, runInProcess, runVault, type RunResult } from '../helpers/cli.js';
import { startCluster, type PgCluster } from '../helpers/pg.js';
import { sqlite } from '../helpers/sqlite.js';
import { cheapVault, openWithKey } from '../helpers/vaults.js';
import { open } from '../../src/crypto/aead.js';
import { slotPublicKey } from '../../src/crypto/slotwrap.js';
import { buildMemberSlot } from '../../src/keyring/keyring.js';
import { Vault } from '../../src/core/vault.js';
import { valueAad } from '../../src/core/integrity.js';

/**
 * Team-vault members (issue 11): `vault member add|list|rm`, opening a vault with only an
 * identity, rotation due, and what a server (or a writer of the file) can do to members. Each
 * case runs against a SQLite file and a vault in a real PostgreSQL cluster (test/helpers/pg.ts).
 */

let cluster: PgCluster;
before(() => {
  cluster = startCluster();
});
after(() => cluster?.destroy());

type V = Awaited<ReturnType<typeof cheapVault>>;
const STORES = ['file', 'postgres'] as const;
type StoreKind = (typeof STORES)[number];

/** A person: a personal vault holding their identity, and their own state directory (anchors, pins). */
interface Person {
  v: V;
  key: string;
  fingerprint: string;
  secret: Buffer;
}

function fingerprintOf(publicKey: string): string {
  const raw = Buffer.from(publicKey.slice('vault-pub1'.length), 'base64url');
  return createHash('sha256').update('vault/identity-fingerprint/v1\0').update(raw).digest('hex').slice(0, 20).match(/.{4}/g)!.join(' ');
}

async function person(): Promise<Person> {
  const v = await cheapVault();
  const r = await runInProcess(['identity'], { env: v.env });
  assert.equal(r.status, 0, r.stderr);
  const key = r.out.trimEnd();
  const vault = await openWithKey(v);
  let secret: Buffer;
  try {
    secret = vault.get({ ns: 'vault.identity', name: 'X25519_KEY' }).value;
  } finally {
    vault.close();
  }
  return { v, key, fingerprint: fingerprintOf(key), secret };
}

/** The environment of `p` using the team vault: only their personal vault's master key, no team secret. */
function as(p: Person, team: Team): Record<string, string> {
  return { VAULT_PATH: team.v.path, VAULT_IDENTITY_VAULT: p.v.path, VAULT_MASTER_KEY: p.v.masterKey, XDG_STATE_HOME: p.v.state };
}

interface Team {
  store: StoreKind;
  v: V;
  /** the schema of a PostgreSQL vault */
  schema: string;
  /** runs SQL on the vault's rows from outside vault; {t} is the table prefix, x'HEX' a blob */
  sql(script: string): string;
}

let n = 0;
async function team(store: StoreKind): Promise<Team> {
  const name = `mem${++n}`;
  const v = await cheapVault(store === 'file' ? {} : { location: cluster.url(name) });
  const schema = `vault_${name}`;
  return {
    store,
    v,
    schema,
    sql: (script) => {
      if (store === 'file') {
        sqlite(v.path, script.replaceAll('{t}', ''));
        return '';
      }
      return cluster.psql(script.replaceAll('{t}', `${schema}.`).replace(/x'([0-9a-f]*)'/g, "'\\x$1'::bytea"));
    },
  };
}

async function run(args: string[], env: Record<string, string>, input?: string): Promise<RunResult> {
  return runInProcess(args, { env, ...(input !== undefined ? { input } : {}) });
}

async function ok(args: string[], env: Record<string, string>, input?: string): Promise<RunResult> {
  const r = await run(args, env, input);
  assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
  return r;
}

function jsonLines<T>(text: string): T[] {
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);
}

const ISO = '\\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z';
const NOT_A_MEMBER = (p: Person): string =>
  `vault: error: your identity (fingerprint ${p.fingerprint}) is not a member of this vault\nvault: hint: ask a member to run: vault member add NAME <your key> (vault identity prints your key)\n`;

/** adds `p` as NAME; returns the vault fingerprint printed */
async function add(t: Team, name: string, p: Person): Promise<string> {
  const r = await ok(['member', 'add', name, p.key], t.v.env);
  const m = /^added member (\S+) \(fingerprint ([0-9a-f ]+)\)\nvault fingerprint: ([0-9a-f]{4}( [0-9a-f]{4}){4})\n$/.exec(r.out);
  assert.ok(m, r.out);
  assert.deepEqual([m[1], m[2]], [name, p.fingerprint]);
  assert.equal(r.stderr, `compare both with ${name} out of band: their vault identity shows the first, their first open of this vault the second\n`);
  return m[3]!;
}

let alice: Person;
let bob: Person;
let carol: Person;
before(async () => {
  [alice, bob, carol] = [await person(), await person(), await person()];
});
after(() => {
  for (const p of [alice, bob, carol]) p?.v.cleanup();
});

for (const store of STORES) {
  describe(`${store} store`, () => {
    test('add: the member opens the vault with only their identity; a non-member gets exit 5 with the hint', async () => {
      const t = await team(store);
      try {
        await ok(['put', 'TOKEN'], t.v.env, 's3cret\n');
        let r = await run(['member', 'list'], t.v.env);
        assert.deepEqual([r.status, r.out, r.stderr], [0, '', '']);
        const vfp = await add(t, 'alice', alice);

        r = await run(['member', 'list'], t.v.env);
        assert.equal(r.status, 0);
        assert.match(r.out, new RegExp(`^alice\\t${alice.fingerprint}\\t${ISO}\\t-\\tpending\\n$`));
        r = await run(['member', 'list', '--json'], t.v.env);
        const [listed] = JSON.parse(r.out) as Array<Record<string, unknown>>;
        assert.deepEqual({ ...listed, added: typeof listed!.added }, { name: 'alice', fingerprint: alice.fingerprint, publicKey: alice.key, added: 'string', lastUsed: null, state: 'pending', keyChanged: false });

        // alice: her personal vault's master key and her identity; nothing of the team's
        r = await run(['get', 'TOKEN'], as(alice, t));
        assert.deepEqual([r.status, r.out], [0, 's3cret']);
        assert.equal(r.stderr, `opened ${t.v.path} as member alice for the first time; vault fingerprint: ${vfp}\ncompare it with the one the member who added you was shown (vault member add prints it)\n`);
        r = await run(['get', 'TOKEN'], as(alice, t));
        assert.deepEqual([r.status, r.out, r.stderr], [0, 's3cret', '']);
        // a member writes too
        r = await run(['put', 'FROM_ALICE'], as(alice, t), 'hello\n');
        assert.deepEqual([r.status, r.stderr], [0, 'stored default/FROM_ALICE version 1\n']);
        r = await run(['get', 'FROM_ALICE'], t.v.env);
        assert.deepEqual([r.status, r.out], [0, 'hello']);

        r = await run(['member', 'list'], t.v.env);
        assert.match(r.out, new RegExp(`^alice\\t${alice.fingerprint}\\t${ISO}\\t${ISO}\\tsealed\\n$`));

        // bob has an identity but is not a member
        r = await run(['get', 'TOKEN'], as(bob, t));
        assert.deepEqual([r.status, r.out, r.stderr], [5, '', NOT_A_MEMBER(bob)]);

        r = await run(['audit', '--op', 'member-add', '--json'], t.v.env);
        const entries = jsonLines<{ op: string; outcome: string; detail: Record<string, unknown> }>(r.out);
        assert.equal(entries.length, 1);
        assert.deepEqual([entries[0]!.op, entries[0]!.outcome, entries[0]!.detail.member, entries[0]!.detail.fingerprint], ['member-add', 'ok', 'alice', alice.fingerprint]);
        r = await run(['audit', 'verify'], t.v.env);
        assert.equal(r.status, 0, r.stderr);
      } finally {
        t.v.cleanup();
      }
    });

    test('add refuses a taken name or key (exit 8), a bad name or key (exit 2); key rm refuses a member slot', async () => {
      const t = await team(store);
      try {
        await add(t, 'alice', alice);
        let r = await run(['member', 'add', 'alice', bob.key], t.v.env);
        assert.deepEqual([r.status, r.out, r.stderr], [8, '', 'vault: error: a member named alice already exists\nvault: hint: choose another name, or remove that member first with vault member rm alice\n']);
        r = await run(['member', 'add', 'alice2', alice.key], t.v.env);
        assert.deepEqual([r.status, r.out, r.stderr], [8, '', 'vault: error: that public key is already the key of member alice\nvault: hint: vault member list shows the members and their fingerprints\n']);
        r = await run(['member', 'add', 'bad name', bob.key], t.v.env);
        assert.deepEqual([r.status, r.out, r.stderr], [2, '', 'vault: error: invalid member name "bad name"\nvault: hint: a member name is 1-64 of A-Z a-z 0-9 . _ @ -, e.g. alice or alice@example.com\n']);
        r = await run(['member', 'add', 'bob', 'vault-pub1short'], t.v.env);
        assert.deepEqual([r.status, r.out, r.stderr], [2, '', 'vault: error: not a vault public key\nvault: hint: a public key looks like vault-pub1<43 base64url characters>, as printed by vault identity\n']);

        const slots = JSON.parse((await ok(['key', 'list', '--json'], t.v.env)).out) as Array<{ id: string; kind: string }>;
        const member = slots.find((s) => s.kind === 'member')!;
        r = await run(['key', 'rm', member.id, '--yes'], t.v.env);
        assert.deepEqual([r.status, r.stderr], [2, `vault: error: key slot ${member.id} is the member alice\nvault: hint: remove it with vault member rm alice (which also rotates the data key)\n`]);
        r = await run(['member', 'list'], t.v.env);
        assert.match(r.out, /^alice\t/);
      } finally {
        t.v.cleanup();
      }
    });

    test('member rm: asks (needs --yes off a terminal), then a new data key; the removed identity gets exit 5; rotation due until a new value', async () => {
      const t = await team(store);
      try {
        await ok(['put', 'TOKEN'], t.v.env, 'one\n');
        await ok(['put', 'OTHER'], t.v.env, 'other\n');
        await add(t, 'alice', alice);
        await add(t, 'bob', bob);
        await ok(['get', 'TOKEN'], as(alice, t));

        let r = await run(['member', 'rm', 'alice'], t.v.env);
        assert.deepEqual([r.status, r.out, r.stderr], [2, '', 'vault: error: refusing to remove member alice without confirmation\nvault: hint: pass --yes when not in a terminal\n']);
        r = await run(['member', 'rm', 'nobody', '--yes'], t.v.env);
        assert.deepEqual([r.status, r.stderr], [3, 'vault: error: no member nobody\nvault: hint: vault member list shows the members\n']);

        r = await run(['member', 'rm', 'alice', '--yes'], t.v.env);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.out, '');
        // 2 versions; 3 slots left (passphrase, master key, bob)
        assert.equal(
          r.stderr,
          `removed member alice (fingerprint ${alice.fingerprint}); new data key: re-encrypted 2 versions, re-wrapped 3 key slots\n` +
            '2 secrets are now marked rotation due: alice may have read their values; rotate them (vault list shows which)\n',
        );

        r = await run(['get', 'TOKEN'], as(alice, t));
        assert.deepEqual([r.status, r.out, r.stderr], [5, '', NOT_A_MEMBER(alice)]);
        // bob, never opened before, follows his link and the rotation's link
        r = await run(['get', 'TOKEN'], as(bob, t));
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.out, 'one');

        r = await run(['list', '--json'], t.v.env);
        assert.deepEqual(
          (JSON.parse(r.out) as Array<{ name: string; rotationDue?: boolean }>).map((i) => [i.name, i.rotationDue]),
          [['OTHER', true], ['TOKEN', true]],
        );
        r = await run(['list'], t.v.env);
        assert.deepEqual([r.status, r.out, r.stderr], [0, 'OTHER\nTOKEN\n', '2 of these are rotation due (a member was removed): vault list --json marks them, vault rotate NAME clears it\n']);
        r = await run(['status'], t.v.env);
        assert.match(r.out, /\nsecrets: {3}2 \(2 versions, 0 removed, 2 rotation due\)\n/);
        assert.match(r.out, new RegExp(`\\nmembers:\\n  bob  ${bob.fingerprint}  sealed\\n`));
        r = await run(['status', '--json'], t.v.env);
        const st = JSON.parse(r.out) as { rotationDue: number; members: unknown };
        assert.deepEqual([st.rotationDue, st.members], [2, [{ name: 'bob', fingerprint: bob.fingerprint, state: 'sealed' }]]);

        // a new value clears it; a rollback to a value the member could read keeps it
        await ok(['put', 'TOKEN', '--force'], t.v.env, 'two\n');
        await ok(['rollback', 'OTHER', '1'], t.v.env);
        r = await run(['list', '--json'], t.v.env);
        assert.deepEqual(
          (JSON.parse(r.out) as Array<{ name: string; rotationDue?: boolean }>).map((i) => [i.name, i.rotationDue]),
          [['OTHER', true], ['TOKEN', undefined]],
        );
        // an import over it is a new value too
        await ok(['import', '-', '--overwrite'], t.v.env, 'OTHER=new\n');
        r = await run(['status', '--json'], t.v.env);
        assert.equal((JSON.parse(r.out) as { rotationDue: number }).rotationDue, 0);
        r = await run(['get', 'OTHER'], t.v.env);
        assert.equal(r.out, 'new');

        r = await run(['audit', '--op', 'member-rm', '--json'], t.v.env);
        const entries = jsonLines<{ outcome: string; detail: Record<string, unknown> }>(r.out);
        assert.deepEqual(
          entries.map((e) => [e.outcome, e.detail.member, e.detail.rotationDue ?? null]),
          [['not-found', 'nobody', null], ['ok', 'alice', 2]],
        );
        r = await run(['audit', 'verify'], t.v.env);
        assert.equal(r.status, 0, r.stderr);
      } finally {
        t.v.cleanup();
      }
    });

    test('an old copy and the removed identity never reach a value written after member rm', async () => {
      const t = await team(store);
      try {
        await ok(['put', 'TOKEN'], t.v.env, 'before\n');
        await add(t, 'alice', alice);
        await ok(['get', 'TOKEN'], as(alice, t));
        // the copy alice (or the server) kept from before her removal
        let oldLocation: string;
        let oldTable: string;
        if (store === 'file') {
          oldLocation = join(t.v.dir, 'old.db');
          copyFileSync(t.v.path, oldLocation);
          oldTable = 'old.';
        } else {
          const dump = cluster.dump({ schema: t.schema });
          cluster.restore(dump.replaceAll(t.schema, `${t.schema}_old`));
          oldLocation = t.v.path.replace(/vault=(\w+)/, 'vault=$1_old');
          oldTable = `${t.schema}_old.`;
        }
        await ok(['member', 'rm', 'alice', '--yes'], t.v.env);
        await ok(['put', 'AFTER'], t.v.env, 'written-after-rm\n');

        // The old copy opens for alice, with the old data key, which opens nothing written since.
        const old = Vault.open(oldLocation, { anchorDir: null });
        let oldKey: Buffer;
        try {
          await old.unlockWithIdentity(alice.secret);
          oldKey = old.dataKeyCopy();
        } finally {
          old.close();
        }
        const current = Vault.open(t.v.path, { anchorDir: null });
        try {
          const secret = current.store.findSecret('default', 'AFTER')!;
          const row = current.store.findVersion(secret.id, 1)!;
          assert.equal(open(oldKey, row.nonce, row.ciphertext, valueAad(current.id, secret.uid!, row)), null);
          // and no slot of the current vault is alice's
          assert.equal(current.store.allSlots().some((s) => s.public_key?.equals(slotPublicKey(alice.secret))), false);
          await assert.rejects(current.unlockWithIdentity(alice.secret), (e: Error) => e.message.startsWith('your identity') && (e as { code?: string }).code === 'auth-failed');
        } finally {
          current.close();
        }

        // alice's old slot put back by the server: refused for everyone, and it gives alice nothing new
        if (store === 'file') t.sql(`ATTACH '${oldLocation}' AS old; INSERT INTO slots SELECT * FROM ${oldTable}slots WHERE kind = 'member'; DETACH old;`);
        else t.sql(`INSERT INTO {t}slots SELECT * FROM ${oldTable}slots WHERE kind = 'member';`);
        let r = await run(['get', 'AFTER'], as(alice, t));
        assert.equal(r.status, 7);
        assert.equal(r.out, '');
        assert.match(r.stderr, /^vault: error: the data key this slot holds is not the vault's: the vault's own keys do not open under it\n/);
        r = await run(['get', 'AFTER'], t.v.env);
        assert.equal(r.status, 7);
        assert.equal(r.out, '');
        assert.match(r.stderr, /^vault: error: key slot [0-9a-f]{8} failed its integrity check: it was added or edited without a key\n/);
      } finally {
        t.v.cleanup();
      }
    });

    test('the server as attacker: a planted member, a swapped member key, a cleared rotation due: exit 7', async () => {
      const t = await team(store);
      try {
        await ok(['put', 'TOKEN'], t.v.env, 'value\n');
        await add(t, 'alice', alice);
        await add(t, 'bob', bob);
        await ok(['member', 'rm', 'bob', '--yes'], t.v.env);
        const opened = Vault.open(t.v.path, { anchorDir: null });
        const id = opened.id;
        opened.close();

        // carol's slot, made by someone without the data key (a key of their own instead)
        const planted = buildMemberSlot(id, 'carol', slotPublicKey(carol.secret), Buffer.alloc(32, 7), Date.now());
        const hex = (b: Buffer | null): string => (b === null ? 'NULL' : `x'${b.toString('hex')}'`);
        t.sql(
          `INSERT INTO {t}slots (id, kind, label, kdf, kdf_params, salt, nonce, wrapped_key, created_at, last_used_at, public_key, ephemeral_key, key_mac, wrap_format, pending) VALUES ` +
            `('${planted.id}', 'member', 'carol', 'none', '${planted.kdf_params}', ${hex(planted.salt)}, ${hex(planted.nonce)}, ${hex(planted.wrapped_key)}, ${planted.created_at}, NULL, ${hex(planted.public_key)}, NULL, ${hex(planted.key_mac)}, 2, ${hex(planted.pending)});`,
        );
        const plantedMsg = `vault: error: key slot ${planted.id} failed its integrity check: it was added or edited without a key\n`;
        for (const env of [t.v.env, as(alice, t)]) {
          const r = await run(['get', 'TOKEN'], env);
          assert.deepEqual([r.status, r.out], [7, '']);
          assert.ok(r.stderr.startsWith(plantedMsg), r.stderr);
        }
        let r = await run(['get', 'TOKEN'], as(carol, t));
        assert.deepEqual([r.status, r.out], [7, '']);
        assert.match(r.stderr, /^vault: error: the data key this slot holds is not the vault's/);
        t.sql(`DELETE FROM {t}slots WHERE id = '${planted.id}';`);
        await ok(['get', 'TOKEN'], t.v.env);

        // alice's slot given carol's key (to let carol in under alice's name)
        t.sql(`UPDATE {t}slots SET public_key = ${hex(slotPublicKey(carol.secret))} WHERE kind = 'member';`);
        r = await run(['get', 'TOKEN'], t.v.env);
        assert.deepEqual([r.status, r.out], [7, '']);
        assert.match(r.stderr, /^vault: error: key slot [0-9a-f]{8} failed its integrity check: it was added or edited without a key\n/);
        t.sql(`UPDATE {t}slots SET public_key = ${hex(slotPublicKey(alice.secret))} WHERE kind = 'member';`);
        await ok(['get', 'TOKEN'], t.v.env);

        // rotation due cleared by hand
        t.sql(`UPDATE {t}secrets SET rotation_due = 0;`);
        r = await run(['get', 'TOKEN'], t.v.env);
        assert.deepEqual([r.status, r.out], [7, '']);
        assert.match(r.stderr, /^vault: error: (secret default\/TOKEN failed its integrity check: its record was edited or rolled back|the vault's secrets or key slots do not match its state record)/);
      } finally {
        t.v.cleanup();
      }
    });

    test('a member\'s key changed: warned once per client, marked in member list', async () => {
      const t = await team(store);
      try {
        await ok(['put', 'TOKEN'], t.v.env, 'value\n');
        await add(t, 'alice', alice);
        // a second admin (another client, its own state directory) sees alice's first key
        const other = await cheapVault();
        const admin2 = { ...t.v.env, XDG_STATE_HOME: other.state };
        try {
          let r = await run(['member', 'list'], admin2);
          assert.deepEqual([r.status, r.stderr], [0, '']);
          // the first admin removes alice and adds "alice" with bob's key: no warning for the one who did it
          await ok(['member', 'rm', 'alice', '--yes'], t.v.env);
          r = await ok(['member', 'add', 'alice', bob.key], t.v.env);
          assert.doesNotMatch(r.stderr, /warning/);
          // the second admin is told once, on whatever command it runs next
          r = await run(['get', 'TOKEN'], admin2);
          assert.deepEqual([r.status, r.out], [0, 'value']);
          assert.equal(r.stderr, `vault: warning: the key of member alice changed since this client last saw it (fingerprint ${alice.fingerprint}, now ${bob.fingerprint}); check the new one with alice out of band\n`);
          r = await run(['get', 'TOKEN'], admin2);
          assert.deepEqual([r.status, r.stderr], [0, '']);
          r = await run(['member', 'list'], admin2);
          assert.equal(r.status, 0);
          assert.match(r.out, new RegExp(`^alice\\t${bob.fingerprint}\\t${ISO}\\t-\\tpending\\tkey-changed\\n$`));
          r = await run(['member', 'list', '--json'], admin2);
          assert.equal((JSON.parse(r.out) as Array<{ keyChanged: boolean }>)[0]!.keyChanged, true);
          r = await run(['member', 'list', '--json'], t.v.env);
          assert.equal((JSON.parse(r.out) as Array<{ keyChanged: boolean }>)[0]!.keyChanged, false);
        } finally {
          other.cleanup();
        }
      } finally {
        t.v.cleanup();
      }
    });

    test('the last way in: member rm refuses it; key rm leaves a member-only vault that its member opens', async () => {
      const t = await team(store);
      try {
        await ok(['put', 'TOKEN'], t.v.env, 'value\n');
        await add(t, 'alice', alice);
        const slots = JSON.parse((await ok(['key', 'list', '--json'], t.v.env)).out) as Array<{ id: string; kind: string }>;
        for (const s of slots.filter((s) => s.kind !== 'member')) await ok(['key', 'rm', s.id, '--yes'], as(alice, t));
        let r = await run(['member', 'rm', 'alice', '--yes'], as(alice, t));
        assert.deepEqual([r.status, r.out, r.stderr], [
          2,
          '',
          'vault: error: refusing to remove member alice: it is the last way into the vault, which could never be unlocked again\nvault: hint: add another member or a master key first (vault member add, vault key add)\n',
        ]);
        r = await run(['get', 'TOKEN'], as(alice, t));
        assert.deepEqual([r.status, r.out], [0, 'value']);
        // with bob added, alice may leave; bob then opens it alone
        await ok(['member', 'add', 'bob', bob.key], as(alice, t));
        await ok(['member', 'rm', 'alice', '--yes'], as(alice, t));
        r = await run(['get', 'TOKEN'], as(bob, t));
        assert.deepEqual([r.status, r.out], [0, 'value']);
        r = await run(['get', 'TOKEN'], as(alice, t));
        assert.deepEqual([r.status, r.stderr], [5, NOT_A_MEMBER(alice)]);
      } finally {
        t.v.cleanup();
      }
    });
  });
}

test('postgres: two member rm at once leave one consistent vault', async () => {
  const t = await team('postgres');
  try {
    await ok(['put', 'TOKEN'], t.v.env, 'value\n');
    await add(t, 'alice', alice);
    await add(t, 'bob', bob);
    await add(t, 'carol', carol);
    const [a, b] = await Promise.all([runVault(['member', 'rm', 'alice', '--yes'], { env: t.v.env }), runVault(['member', 'rm', 'bob', '--yes'], { env: t.v.env })]);
    const RACED = 'vault: error: the vault key was rotated by another process after this one unlocked; nothing was done\nvault: hint: run the command again\n';
    for (const r of [a, b]) {
      assert.ok(r.status === 0 || (r.status === 1 && r.stderr === RACED), `${r.status} ${r.stderr}`);
    }
    assert.ok(a.status === 0 || b.status === 0);
    if (a.status !== 0) await ok(['member', 'rm', 'alice', '--yes'], t.v.env);
    if (b.status !== 0) await ok(['member', 'rm', 'bob', '--yes'], t.v.env);
    let r = await run(['member', 'list'], t.v.env);
    assert.match(r.out, new RegExp(`^carol\\t${carol.fingerprint}\\t`));
    assert.equal(r.out.split('\n').length, 2);
    for (const p of [alice, bob]) {
      r = await run(['get', 'TOKEN'], as(p, t));
      assert.deepEqual([r.status, r.stderr], [5, NOT_A_MEMBER(p)]);
    }
    r = await run(['get', 'TOKEN'], as(carol, t));
    assert.deepEqual([r.status, r.out], [0, 'value']);
    r = await run(['get', 'TOKEN'], t.v.env);
    assert.deepEqual([r.status, r.out], [0, 'value']);
    r = await run(['audit', 'verify'], t.v.env);
    assert.equal(r.status, 0, r.stderr);
  } finally {
    t.v.cleanup();
  }
});

test('the personal vault: VAULT_IDENTITY_VAULT, else the default local vault; and the library API', async () => {
  const t = await team('file');
  try {
    await ok(['put', 'TOKEN'], t.v.env, 'value\n');
    await add(t, 'alice', alice);
    // no VAULT_IDENTITY_VAULT: VAULT_PATH is the team vault itself, so the default path (XDG_DATA_HOME) holds the identity
    let r = await run(['get', 'TOKEN'], { VAULT_PATH: t.v.path, XDG_DATA_HOME: alice.v.dir, VAULT_MASTER_KEY: alice.v.masterKey, XDG_STATE_HOME: alice.v.state });
    assert.deepEqual([r.status, r.out], [0, 'value']);
    // --vault names the team vault, VAULT_PATH the personal one
    r = await run(['--vault', t.v.path, 'get', 'TOKEN'], { VAULT_PATH: alice.v.path, VAULT_MASTER_KEY: alice.v.masterKey, XDG_STATE_HOME: alice.v.state });
    assert.deepEqual([r.status, r.out, r.stderr], [0, 'value', '']);
    // no personal vault at all: nothing to try, the usual locked error (exit 4)
    r = await run(['get', 'TOKEN'], { VAULT_PATH: t.v.path, XDG_DATA_HOME: join(alice.v.dir, 'none'), XDG_STATE_HOME: alice.v.state });
    assert.deepEqual([r.status, r.out], [4, '']);
    assert.match(r.stderr, /^vault: error: the vault is locked and no way to unlock it was given\n/);

    const { openVault } = await import('../../src/index.js');
    const handle = await openVault({ path: t.v.path, unlock: { identity: { vault: alice.v.path, unlock: { masterKey: alice.v.masterKey } } }, env: { XDG_STATE_HOME: alice.v.state } });
    try {
      assert.equal(handle.get('TOKEN'), 'value');
    } finally {
      handle.close();
    }
    await assert.rejects(
      openVault({ path: t.v.path, unlock: { identity: { vault: bob.v.path, unlock: { masterKey: bob.v.masterKey } } }, env: { XDG_STATE_HOME: bob.v.state } }),
      (e: Error & { code?: string }) => e.code === 'auth-failed' && e.message === `your identity (fingerprint ${bob.fingerprint}) is not a member of this vault`,
    );
  } finally {
    t.v.cleanup();
  }
});

test('member rm asks on a terminal: "n" is exit 0 and "nothing removed", "y" removes', { timeout: 120_000 }, async (t: TestContext) => {
  if (!Terminal.hasTmux()) {
    if (inCI(process.env)) assert.fail('CI is set, so this cannot be skipped: the terminal tests need tmux');
    t.skip('the terminal tests need tmux');
    return;
  }
  const tm = await team('file');
  t.after(() => tm.v.cleanup());
  await add(tm, 'alice', alice);
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tm.v.dir, LANG: 'C.UTF-8', TERM: 'xterm-256color', ...tm.v.env };
  const start = (): Terminal => {
    const term = Terminal.start([process.execPath, BIN, 'member', 'rm', 'alice'], env, tm.v.dir);
    t.after(() => term.close());
    return term;
  };
  const no = start();
  await no.waitFor(/Remove member alice and rotate the data key\? \(y\/N\)/);
  no.type('n');
  assert.equal(await no.exitStatus(), 0, no.screen());
  assert.match(no.screen(), /nothing removed$/);
  assert.match((await run(['member', 'list'], tm.v.env)).out, /^alice\t/);
  const yes = start();
  await yes.waitFor(/\(y\/N\)/);
  yes.type('y');
  assert.equal(await yes.exitStatus(), 0, yes.screen());
  assert.match(yes.screen(), /rotation due/);
  assert.equal((await run(['member', 'list'], tm.v.env)).out, '');
});
