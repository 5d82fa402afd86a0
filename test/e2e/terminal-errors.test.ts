/**
 * Errors that teach (issue 10 §3), as a script sees them (no terminal): one error line and one
 * hint line, or one JSON object with --json; suggestions only from the real command and flag
 * lists; hints that fit the mistake and the context; plain words for errno codes.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Vault } from '../../src/core/vault.js';
import { parseMasterKey } from '../../src/unlock/masterkey.js';
import { addKeychainSlot } from '../../src/unlock/slots.js';
import { freshVault, runInProcess, runVault, tempDir, type FreshVault, type RunResult } from '../helpers/cli.js';

function refused(r: RunResult, status: number, stderr: string): void {
  assert.equal(r.stderr, stderr);
  assert.equal(r.status, status);
  assert.equal(r.out, '');
}

let v: FreshVault;
before(async () => {
  v = await freshVault();
  for (const [name, value] of [
    ['GITHUB_TOKEN', 'gh-value-1'],
    ['ci/NPM_TOKEN', 'npm-value-1'],
  ] as const) {
    const r = await runInProcess(['put', name], { env: v.env, input: value });
    assert.equal(r.status, 0, r.stderr);
  }
});
after(() => v.cleanup());

describe('usage errors: one line, one hint; suggestions from the real lists', () => {
  test('an unknown command: a synonym names the command that does the job (store → put, not a look-alike); a typo its nearest command', async () => {
    refused(await runInProcess(['store', 'A'], { env: v.env }), 2, "vault: error: unknown command 'store'\nvault: hint: did you mean vault put? (vault --help lists the commands and flags)\n");
    refused(await runInProcess(['show', 'A'], { env: v.env }), 2, "vault: error: unknown command 'show'\nvault: hint: did you mean vault get? (vault --help lists the commands and flags)\n");
    refused(await runInProcess(['remove', 'A'], { env: v.env }), 2, "vault: error: unknown command 'remove'\nvault: hint: did you mean vault rm? (vault --help lists the commands and flags)\n");
    refused(await runInProcess(['gte', 'A'], { env: v.env }), 2, "vault: error: unknown command 'gte'\nvault: hint: did you mean vault get? (vault --help lists the commands and flags)\n");
    refused(await runInProcess(['lsit'], { env: v.env }), 2, "vault: error: unknown command 'lsit'\nvault: hint: did you mean vault list? (vault --help lists the commands and flags)\n");
    refused(await runInProcess(['frobnicate'], { env: v.env }), 2, "vault: error: unknown command 'frobnicate'\nvault: hint: vault --help lists the commands and flags\n");
    // --json: the same hint inside the one object
    refused(
      await runInProcess(['--json', 'store', 'A'], { env: v.env }),
      2,
      `{"error":{"code":"usage","message":"unknown command 'store'","hint":"did you mean vault put? (vault --help lists the commands and flags)"}}\n`,
    );
  });

  test("commander's \"Did you mean\" for a flag becomes the hint line, also in --json", async () => {
    refused(await runInProcess(['put', 'A', '--forc'], { env: v.env }), 2, "vault: error: unknown option '--forc'\nvault: hint: did you mean --force? (vault --help lists the commands and flags)\n");
    refused(
      await runInProcess(['put', 'A', '--forc', '--json'], { env: v.env }),
      2,
      `{"error":{"code":"usage","message":"unknown option '--forc'","hint":"did you mean --force? (vault --help lists the commands and flags)"}}\n`,
    );
  });

  test('vault exec without -- before a command with flags: the hint says where -- goes', async () => {
    refused(await runInProcess(['exec', 'node', '-e', 'process.exit(0)'], { env: v.env }), 2, "vault: error: unknown option '-e'\nvault: hint: put -- between vault's flags and the command: vault exec [flags] -- CMD [ARGS…]\n");
  });

  test('vault put NAME VALUE: values are never taken from argv, the hint says so and warns about shell history; the value is not repeated', async () => {
    const value = `argv-value-${randomBytes(4).toString('hex')}`;
    const r = await runInProcess(['put', 'NEW_ONE', value], { env: v.env });
    refused(
      r,
      2,
      "vault: error: too many arguments for 'put'; expected 1 argument but got 2\n" +
        'vault: hint: vault never takes a value from the command line, where other processes can read it; pipe it on stdin, use --from-file, or let vault ask. The value you typed may now be in your shell history: remove it there\n',
    );
    assert.ok(!r.stderr.includes(value));
    assert.equal((await runInProcess(['list'], { env: v.env })).out, 'GITHUB_TOKEN\n');
  });
});

describe('not found: what was probably meant', () => {
  test('a name that differs in case or by a typo: did you mean GITHUB_TOKEN?', async () => {
    refused(await runInProcess(['get', 'github_token'], { env: v.env }), 3, 'vault: error: no secret default/github_token\nvault: hint: did you mean GITHUB_TOKEN?\n');
    refused(await runInProcess(['get', 'GITHUB_TOKN'], { env: v.env }), 3, 'vault: error: no secret default/GITHUB_TOKN\nvault: hint: did you mean GITHUB_TOKEN?\n');
    refused(
      await runInProcess(['--json', 'get', 'GITHUB_TOKN'], { env: v.env }),
      3,
      '{"error":{"code":"not-found","message":"no secret default/GITHUB_TOKN","hint":"did you mean GITHUB_TOKEN?"}}\n',
    );
  });

  test('the same name in another namespace', async () => {
    refused(await runInProcess(['get', 'NPM_TOKEN'], { env: v.env }), 3, 'vault: error: no secret default/NPM_TOKEN\nvault: hint: did you mean ci/NPM_TOKEN? (--ns or NS/NAME picks the namespace)\n');
  });

  test('nothing near: the plain hint', async () => {
    refused(await runInProcess(['get', 'ZZZ'], { env: v.env }), 3, 'vault: error: no secret default/ZZZ\nvault: hint: vault list shows the stored names\n');
  });
});

describe('names and references', () => {
  test('vault get takes vault://NS/NAME and vault://NAME@VERSION, as inject and --env-file do', async () => {
    const r = await runInProcess(['get', 'vault://ci/NPM_TOKEN'], { env: v.env });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.out, 'npm-value-1');
    assert.equal((await runInProcess(['put', 'GITHUB_TOKEN', '--force'], { env: v.env, input: 'gh-value-2' })).status, 0);
    const v1 = await runInProcess(['get', 'vault://GITHUB_TOKEN@1'], { env: v.env });
    assert.equal(v1.status, 0, v1.stderr);
    assert.equal(v1.out, 'gh-value-1');
    const v2 = await runInProcess(['get', 'vault://default/GITHUB_TOKEN'], { env: v.env });
    assert.equal(v2.out, 'gh-value-2');
    refused(await runInProcess(['get', 'vault://GITHUB_TOKEN@1', '--version', '2'], { env: v.env }), 2, 'vault: error: --version 2 contradicts @1 in "vault://GITHUB_TOKEN@1"\n');
    refused(await runInProcess(['get', 'vault://ci/NPM_TOKEN', '--ns', 'prod'], { env: v.env }), 2, 'vault: error: --ns prod contradicts the namespace ci in "vault://ci/NPM_TOKEN"\nvault: hint: drop --ns, or name the secret as prod/NPM_TOKEN\n');
    refused(await runInProcess(['history', 'vault://GITHUB_TOKEN@1'], { env: v.env }), 2, 'vault: error: a version (@1) is not taken here\nvault: hint: name the secret as default/GITHUB_TOKEN\n');
  });
});

describe('empty values: put and import agree (both refuse)', () => {
  test('import of a file with an empty value is refused whole, naming it; nothing is written', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = join(dir, 'app.env');
      writeFileSync(file, 'FULL=1\nBLANK=\nALSO_BLANK=""\n');
      refused(
        await runInProcess(['import', file, '--ns', 'imp'], { env: v.env }),
        2,
        'vault: error: empty values for BLANK, ALSO_BLANK; nothing was imported\nvault: hint: vault stores no empty values (as put): give them a value or remove those lines\n',
      );
      assert.equal((await runInProcess(['list', '--ns', 'imp'], { env: v.env })).out, '');
    } finally {
      cleanup();
    }
  });
});

describe('plain words instead of errno codes', () => {
  test('no such file, is a directory, permission denied', async () => {
    const { dir, cleanup } = tempDir();
    try {
      refused(await runInProcess(['put', 'F', '--from-file', join(dir, 'absent')], { env: v.env }), 2, `vault: error: cannot read ${join(dir, 'absent')}: no such file\n`);
      refused(await runInProcess(['put', 'F', '--from-file', dir], { env: v.env }), 2, `vault: error: cannot read ${dir}: is a directory\n`);
      refused(await runInProcess(['import', dir], { env: v.env }), 2, `vault: error: cannot read ${dir}: is a directory\n`);
      if (process.getuid?.() !== 0) {
        const locked = join(dir, 'locked');
        writeFileSync(locked, 'x');
        chmodSync(locked, 0o000);
        refused(await runInProcess(['put', 'F', '--from-file', locked], { env: v.env }), 2, `vault: error: cannot read ${locked}: permission denied\n`);
      }
    } finally {
      cleanup();
    }
  });
});

describe('the locked hint fits the context', () => {
  const FULL = 'set VAULT_PASSPHRASE(_FILE) or VAULT_MASTER_KEY(_FILE), enable the OS keychain with vault keychain enable, or run in a terminal to be asked';
  const LOCKED = 'vault: error: the vault is locked and no way to unlock it was given\n';

  test('no "run in a terminal" under --no-input or CI', async () => {
    const only = { VAULT_PATH: v.path };
    refused(await runInProcess(['get', 'GITHUB_TOKEN'], { env: only }), 4, `${LOCKED}vault: hint: ${FULL}\n`);
    const short = 'vault: hint: set VAULT_PASSPHRASE(_FILE) or VAULT_MASTER_KEY(_FILE), or enable the OS keychain with vault keychain enable\n';
    refused(await runInProcess(['get', 'GITHUB_TOKEN', '--no-input'], { env: only }), 4, `${LOCKED}${short}`);
    refused(await runInProcess(['get', 'GITHUB_TOKEN'], { env: { ...only, CI: 'true' } }), 4, `${LOCKED}${short}`);
  });

  test('a vault with a keychain slot is not told to enable one; the keychain warning is shown once a day per vault, remembered under XDG_STATE_HOME', async () => {
    const k = await freshVault();
    const { dir: state, cleanup } = tempDir('vault-state-');
    try {
      const vault = Vault.open(k.path, { anchorDir: join(process.env.XDG_STATE_HOME ?? state, 'vault', 'anchors') });
      try {
        await vault.unlockWithMasterKey(parseMasterKey(k.masterKey, 'test'));
        await addKeychainSlot(vault, randomBytes(32));
      } finally {
        vault.close();
      }
      const env = { VAULT_PATH: k.path, XDG_STATE_HOME: state };
      const NO_BUS = 'vault: warning: keychain unavailable: no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset)\n';
      const hint = 'vault: hint: set VAULT_PASSPHRASE(_FILE) or VAULT_MASTER_KEY(_FILE), or run in a terminal to be asked\n';
      // runVault: a real process, whose environment has no D-Bus session
      const first = await runVault(['list', '--prefix', 'X'], { env });
      assert.equal(first.status, 0, first.stderr);
      assert.equal(first.stderr, '', 'list does not unlock: no keychain, no warning');
      refused(await runVault(['get', 'A'], { env }), 3, 'vault: error: no secret default/A\nvault: hint: vault list shows the stored names\n');
      await runInProcess(['put', 'A'], { env: { ...env, VAULT_MASTER_KEY: k.masterKey }, input: 'a' });
      refused(await runVault(['get', 'A'], { env }), 4, `${NO_BUS}${LOCKED}${hint}`);
      refused(await runVault(['get', 'A'], { env }), 4, `${LOCKED}${hint}`);
      refused(await runVault(['get', 'A', '--json'], { env }), 4, '{"error":{"code":"locked","message":"the vault is locked and no way to unlock it was given","hint":"set VAULT_PASSPHRASE(_FILE) or VAULT_MASTER_KEY(_FILE), or run in a terminal to be asked"}}\n');
      assert.deepEqual(readdirSync(join(state, 'vault', 'notices')).length, 1);
      // Another day (the remembered time moved back 25 hours): said again.
      const notices = join(state, 'vault', 'notices');
      const file = join(notices, readdirSync(notices)[0]!);
      writeFileSync(file, JSON.stringify({ message: 'keychain unavailable: no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset)', at: Date.now() - 25 * 3600 * 1000 }));
      refused(await runVault(['get', 'A'], { env }), 4, `${NO_BUS}${LOCKED}${hint}`);
      // A fresh state directory (another user, or the file removed): said again.
      const other = join(state, 'other');
      mkdirSync(other);
      refused(await runVault(['get', 'A'], { env: { ...env, XDG_STATE_HOME: other } }), 4, `${NO_BUS}${LOCKED}${hint}`);
    } finally {
      cleanup();
      k.cleanup();
    }
  });
});

describe('confirmations outside a terminal', () => {
  test('key rm needs --yes without a terminal (exit 2, nothing revoked); with --yes it revokes', async () => {
    const add = await runInProcess(['key', 'add', '--label', 'temp', '--json'], { env: v.env });
    assert.equal(add.status, 0, add.stderr);
    const id = (JSON.parse(add.out) as { id: string }).id;
    refused(await runInProcess(['key', 'rm', id], { env: v.env }), 2, `vault: error: refusing to revoke the master-key slot ${id} ("temp") without confirmation\nvault: hint: pass --yes when not in a terminal\n`);
    assert.ok((await runInProcess(['key', 'list'], { env: v.env })).out.includes(id));
    const rm = await runInProcess(['key', 'rm', id, '--yes'], { env: v.env });
    assert.equal(rm.status, 0, rm.stderr);
    assert.equal(rm.stderr, `revoked master-key slot ${id} ("temp")\n`);
  });
});
