/**
 * The keychain slot end to end, against a REAL GNOME Keyring on a private D-Bus session
 * (test/helpers/keyring-session.sh, throwaway HOME), and with no D-Bus at all.
 *
 * With CI=true a test that cannot reach the keyring FAILS; elsewhere it skips when the tools
 * (gnome-keyring-daemon, dbus-run-session, dbus-send) are not installed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { inCI } from '../../src/cli/io.js';
import { PASSPHRASE, ROOT, runCommand, runVault, tempDir } from '../helpers/cli.js';
import type { Step, StepResult } from '../helpers/vault-steps.js';

const SESSION = join(ROOT, 'test', 'helpers', 'keyring-session.sh');
const STEPS = join(ROOT, 'dist', 'test', 'helpers', 'vault-steps.js');
const NO_BUS = 'no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset)';
const LOCKED =
  'vault: error: the vault is locked and no way to unlock it was given\n' +
  'vault: hint: set VAULT_PASSPHRASE(_FILE) or VAULT_MASTER_KEY(_FILE), enable the OS keychain with vault keychain enable, or run in a terminal to be asked\n';

/** A vault that has a keychain slot is not told to enable one. */
const LOCKED_WITH_SLOT =
  'vault: error: the vault is locked and no way to unlock it was given\n' +
  'vault: hint: set VAULT_PASSPHRASE(_FILE) or VAULT_MASTER_KEY(_FILE), or run in a terminal to be asked\n';

function keyringOrSkip(t: TestContext): boolean {
  const missing = ['gnome-keyring-daemon', 'dbus-run-session', 'dbus-send'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
  if (process.platform === 'linux' && missing.length === 0) return true;
  const why = process.platform !== 'linux' ? `the Secret Service tests run on Linux only` : `keychain tests need ${missing.join(', ')} (apt-get install gnome-keyring dbus-x11)`;
  if (inCI(process.env)) assert.fail(`CI is set, so this cannot be skipped: ${why}`);
  t.skip(why);
  return false;
}

/** A vault path, a keyring HOME, both removed after the test. */
function setup(t: TestContext): { path: string; home: string; pass: Record<string, string> } {
  const tmp = tempDir('vault-keychain-');
  t.after(tmp.cleanup);
  const path = join(tmp.dir, 'vault', 'vault.db');
  return { path, home: join(tmp.dir, 'keyring-home'), pass: { VAULT_PATH: path, VAULT_PASSPHRASE: PASSPHRASE } };
}

/** Runs steps in one keyring session; the keyring's files persist in `home` between sessions. */
async function inKeyring(home: string, steps: Step[]): Promise<StepResult[]> {
  const r = await runCommand('bash', [SESSION, process.execPath, STEPS, JSON.stringify(steps)], { env: { KEYRING_SESSION_HOME: home } });
  assert.equal(r.status, 0, `keyring session failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.out) as StepResult[];
}

function ok(r: StepResult | undefined, what: string): StepResult {
  assert.ok(r);
  assert.equal(r.status, 0, `${what}: ${r.stderr}`);
  return r;
}

test('init --keychain, then get with no passphrase; status; persistence; disable then get is 4', { timeout: 120_000 }, async (t) => {
  if (!keyringOrSkip(t)) return;
  const { path, home, pass } = setup(t);
  const only = { VAULT_PATH: path };
  const [init, put, get, kstatus, kjson, status, list] = await inKeyring(home, [
    { args: ['init', '--keychain', '--json'], env: pass },
    { args: ['put', 'API_TOKEN'], env: only, input: 'tok-123\n' },
    { args: ['get', 'API_TOKEN'], env: only },
    { args: ['keychain', 'status'], env: only },
    { args: ['keychain', 'status', '--json'], env: only },
    { args: ['status', '--json'], env: only },
    { args: ['key', 'list', '--json'], env: only },
  ]);
  const created = JSON.parse(ok(init, 'init').out) as { vaultId: string; keychain: boolean };
  assert.equal(init!.stderr, '');
  assert.equal(created.keychain, true);
  assert.equal(ok(put, 'put').stderr, 'stored default/API_TOKEN version 1\n');
  assert.equal(ok(get, 'get').out, 'tok-123');
  assert.equal(get!.stderr, '');

  const slots = JSON.parse(ok(list, 'key list').out) as Array<{ id: string; kind: string; created: string; lastUsed: string | null }>;
  assert.deepEqual(slots.map((s) => s.kind), ['passphrase', 'keychain']);
  const slot = slots[1]!;
  assert.notEqual(slot.lastUsed, null);
  assert.equal(
    ok(kstatus, 'keychain status').out,
    `slot:     ${slot.id} (created ${slot.created}, last used ${slot.lastUsed})\nkeychain: available (Secret Service)\nkey:      stored; it opens the vault\n`,
  );
  assert.equal(kstatus!.stderr, '');
  assert.deepEqual(JSON.parse(ok(kjson, 'keychain status --json').out), {
    slot: { id: slot.id, created: slot.created, lastUsed: slot.lastUsed },
    keychain: 'Secret Service',
    available: true,
    reason: null,
    key: 'ok',
  });
  assert.deepEqual((JSON.parse(ok(status, 'status').out) as { keychain: unknown }).keychain, { available: true, reason: null });

  // A new session on the same keyring files (a new login): the key is still there.
  const [again, disable, locked, after, kjsonAfter] = await inKeyring(home, [
    { args: ['get', 'API_TOKEN'], env: only },
    { args: ['keychain', 'disable'], env: only },
    { args: ['get', 'API_TOKEN'], env: only },
    { args: ['keychain', 'status'], env: only },
    { args: ['keychain', 'status', '--json'], env: only },
  ]);
  assert.equal(ok(again, 'get in a new session').out, 'tok-123');
  assert.equal(ok(disable, 'disable').stderr, `disabled the OS keychain for ${path}\n`);
  assert.equal(locked!.status, 4);
  assert.equal(locked!.out, '');
  assert.equal(locked!.stderr, LOCKED);
  assert.equal(ok(after, 'status after').out, 'slot:     none\nkeychain: available (Secret Service)\n');
  assert.deepEqual(JSON.parse(kjsonAfter!.out), { slot: null, keychain: 'Secret Service', available: true, reason: null, key: null });

  // disable removed the keychain entry too: nothing is left to forget.
  const [forget, none] = await inKeyring(home, [{ forget: path }, { args: ['keychain', 'disable'], env: pass }]);
  assert.equal(forget!.status, 1, 'the keychain entry survived keychain disable');
  assert.equal(none!.status, 3);
  assert.equal(none!.stderr, 'vault: error: the vault has no keychain slot\nvault: hint: vault keychain enable adds one\n');
});

test('a keychain entry deleted by the user: one warning, fall-through, and enable repairs it', { timeout: 120_000 }, async (t) => {
  if (!keyringOrSkip(t)) return;
  const { path, home, pass } = setup(t);
  const only = { VAULT_PATH: path };
  const [init, put, lib, forget, libMissing, get, withPass, kstatus, enable, get2, enable2] = await inKeyring(home, [
    { args: ['init', '--keychain'], env: pass },
    { args: ['put', 'A'], env: only, input: 'a-value' },
    { libraryGet: { path, name: 'A' } },
    { forget: path },
    { libraryGet: { path, name: 'A' } },
    { args: ['get', 'A'], env: only },
    { args: ['get', 'A'], env: pass },
    { args: ['keychain', 'status', '--json'], env: only },
    { args: ['keychain', 'enable'], env: pass },
    { args: ['get', 'A'], env: only },
    { args: ['keychain', 'enable'], env: only },
  ]);
  assert.equal(ok(init, 'init').stderr, `created vault ${path}; the Secret Service unlocks it on this login\n`);
  ok(put, 'put');
  // The library API unlocks with { keychain: true } too, and says why when it cannot.
  assert.equal(ok(lib, 'library get').out, 'a-value');
  ok(forget, 'forget');
  assert.equal(libMissing!.status, 4);
  assert.equal(
    libMissing!.stderr,
    'cannot unlock with the OS keychain: the OS keychain has no key for this vault (was it deleted?); vault keychain enable stores a new one\n',
  );
  assert.equal(get!.status, 4);
  assert.equal(get!.out, '');
  assert.equal(get!.stderr, `vault: warning: the OS keychain has no key for this vault (was it deleted?); vault keychain enable stores a new one\n${LOCKED_WITH_SLOT}`);
  // The passphrase comes before the keychain: no warning at all.
  assert.equal(ok(withPass, 'get with passphrase').out, 'a-value');
  assert.equal(withPass!.stderr, '');
  assert.equal((JSON.parse(ok(kstatus, 'status').out) as { key: string }).key, 'missing');
  assert.equal(ok(enable, 'enable').stderr, `stored a new key in the OS keychain for ${path} (the old one was missing or wrong)\n`);
  assert.equal(ok(get2, 'get after repair').out, 'a-value');
  assert.equal(ok(enable2, 'enable again').stderr, `the OS keychain already unlocks ${path}\n`);
});

test('with no D-Bus at all: one warning line, then exit 4; --quiet silences it; the passphrase still works', { timeout: 120_000 }, async (t) => {
  if (!keyringOrSkip(t)) return;
  const { path, home, pass } = setup(t);
  ok((await inKeyring(home, [{ args: ['init', '--keychain'], env: pass }, { args: ['put', 'A'], env: pass, input: 'value-a' }]))[1], 'put');
  // runVault's environment has no DBUS_SESSION_BUS_ADDRESS.
  const only = { VAULT_PATH: path };
  const get = await runVault(['get', 'A'], { env: only });
  assert.equal(get.status, 4);
  assert.equal(get.out, '');
  assert.equal(get.stderr, `vault: warning: keychain unavailable: ${NO_BUS}\n${LOCKED_WITH_SLOT}`);
  const quiet = await runVault(['get', 'A', '--quiet'], { env: only });
  assert.equal(quiet.status, 4);
  assert.equal(quiet.stderr, LOCKED_WITH_SLOT);
  // Said once a day for this vault (remembered under XDG_STATE_HOME), not on every command.
  const json = await runVault(['get', 'A', '--json'], { env: only });
  assert.equal(json.status, 4);
  assert.equal(json.stderr, '{"error":{"code":"locked","message":"the vault is locked and no way to unlock it was given","hint":"set VAULT_PASSPHRASE(_FILE) or VAULT_MASTER_KEY(_FILE), or run in a terminal to be asked"}}\n');
  const withPass = await runVault(['get', 'A'], { env: pass });
  assert.equal(withPass.status, 0, withPass.stderr);
  assert.equal(withPass.out, 'value-a');
  assert.equal(withPass.stderr, '');

  const kstatus = await runVault(['keychain', 'status', '--json'], { env: only });
  assert.equal(kstatus.status, 0, kstatus.stderr);
  const st = JSON.parse(kstatus.out) as { slot: { id: string }; available: boolean; reason: string; key: null };
  assert.deepEqual([st.available, st.reason, st.key], [false, NO_BUS, null]);
  const text = await runVault(['keychain', 'status'], { env: only });
  assert.equal(text.out.split('\n')[1], `keychain: unavailable: ${NO_BUS}`);
  const status = await runVault(['status'], { env: only });
  assert.equal(status.out.split('\n').at(-2), `keychain:  unavailable: ${NO_BUS}`);

  // Disabling without a keychain removes the slot and says the entry is left behind.
  const disable = await runVault(['keychain', 'disable'], { env: pass });
  assert.equal(disable.status, 0, disable.stderr);
  const id = (JSON.parse((await runVault(['status', '--json'], { env: only })).out) as { vaultId: string }).vaultId;
  assert.equal(
    disable.stderr,
    `vault: warning: could not delete the key from the OS keychain (${NO_BUS}); delete the entry with service "vault" and account "${id}" yourself\n` +
      `disabled the OS keychain for ${path}\n`,
  );
  const after = await runVault(['get', 'A'], { env: only });
  assert.equal(after.status, 4);
  assert.equal(after.stderr, LOCKED);
});

test('init --keychain with no keychain creates nothing (exit 1); without flags and no terminal it is not asked', async (t) => {
  const tmp = tempDir('vault-keychain-');
  t.after(tmp.cleanup);
  const path = join(tmp.dir, 'v.db');
  const r = await runVault(['init', '--keychain'], { env: { VAULT_PATH: path, VAULT_PASSPHRASE: PASSPHRASE } });
  assert.equal(r.status, 1);
  assert.equal(r.out, '');
  assert.equal(
    r.stderr,
    `vault: error: cannot use the OS keychain: ${NO_BUS}\n` +
      'vault: hint: run vault init --no-keychain, or set up a Secret Service (see "Keychain set-up on Linux" in the README)\n',
  );
  assert.equal(existsSync(path), false);
  const plain = await runVault(['init'], { env: { VAULT_PATH: path, VAULT_PASSPHRASE: PASSPHRASE } });
  assert.equal(plain.status, 0, plain.stderr);
  assert.equal(plain.stderr, `created vault ${path}\n`);
  const both = await runVault(['key', 'list', '--json'], { env: { VAULT_PATH: path } });
  assert.deepEqual((JSON.parse(both.out) as Array<{ kind: string }>).map((s) => s.kind), ['passphrase']);
});

test('rotate --master keeps the keychain, passphrase and master-key slots working; key rm refuses the keychain slot', { timeout: 120_000 }, async (t) => {
  if (!keyringOrSkip(t)) return;
  const { path, home, pass } = setup(t);
  const only = { VAULT_PATH: path };
  const [init, put1, put2, add] = await inKeyring(home, [
    { args: ['init', '--keychain'], env: pass },
    { args: ['put', 'A'], env: only, input: 'one' },
    { args: ['put', 'A', '--force'], env: only, input: 'two' },
    { args: ['key', 'add', '--label', 'ci'], env: only },
  ]);
  ok(init, 'init');
  ok(put1, 'put');
  ok(put2, 'put');
  const key = ok(add, 'key add').out.trim();
  const keychainId = (JSON.parse((await runVault(['key', 'list', '--json'], { env: only })).out) as Array<{ id: string; kind: string }>).find(
    (s) => s.kind === 'keychain',
  )!.id;
  const [rotate, kc1, kc2, rm] = await inKeyring(home, [
    { args: ['rotate', '--master'], env: only },
    { args: ['get', 'A', '--version', '1'], env: only },
    { args: ['get', 'A'], env: only },
    { args: ['key', 'rm', keychainId], env: only },
  ]);
  assert.equal(ok(rotate, 'rotate').stderr, 'rotated the data key: re-encrypted 2 versions, re-wrapped 3 key slots (2 take the new key at their next unlock)\n');
  assert.equal(ok(kc1, 'keychain get v1').out, 'one');
  assert.equal(ok(kc2, 'keychain get v2').out, 'two');
  assert.equal(rm!.status, 2);
  assert.equal(rm!.stderr, `vault: error: key slot ${keychainId} is the keychain slot\nvault: hint: remove it with vault keychain disable\n`);
  for (const env of [pass, { VAULT_PATH: path, VAULT_MASTER_KEY: key }]) {
    const r = await runVault(['get', 'A', '--version', '1'], { env });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.out, 'one');
  }
});
