/**
 * Unit tests of src/unlock/keychain.ts with a fake @napi-rs/keyring: error classification
 * (with the exact messages the real library gave, see keychain.test.ts for the real daemon),
 * the storage format, the timeout, and lazy loading.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import {
  classifyKeychainError,
  KEYCHAIN_REASONS,
  KeychainUnavailable,
  PROBE_ACCOUNT,
  systemKeychain,
  timeoutReason,
  type SystemKeychainOptions,
} from '../../src/unlock/keychain.js';

const require = createRequire(import.meta.url);
const ACCOUNT = '0a1b2c3d4e5f60718293a4b5c6d7e8f9';
const KEK_HEX = '00ff807f0102030405060708090a0b0c0d0e0f10111213141516171819fefdfc';
const KEK_B64 = 'AP+AfwECAwQFBgcICQoLDA0ODxAREhMUFRYXGBn+/fw=';
const BUS = { DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/fake-bus' };

let unhandled: unknown[] = [];
process.on('unhandledRejection', (reason) => unhandled.push(reason));

test('importing the module does not load @napi-rs/keyring', () => {
  const loaded = Object.keys(require.cache).filter((path) => path.includes('@napi-rs/keyring'));
  assert.deepEqual(loaded, []);
});

test('classifies the messages @napi-rs/keyring 2.1.2 gives', () => {
  const seen: Array<[string, string]> = [
    ['Platform failure: DBus error: Using X11 for dbus-daemon autolaunch was disabled at compile time, set your DBUS_SESSION_BUS_ADDRESS instead', 'no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset)'],
    ['Platform failure: DBus error: Failed to connect to socket /tmp/nonexistent-bus: No such file or directory', 'the D-Bus session bus cannot be reached'],
    ['Platform failure: DBus error: Address does not contain a colon', 'DBUS_SESSION_BUS_ADDRESS is not a valid D-Bus address'],
    ['Platform failure: DBus error: The name org.freedesktop.secrets was not provided by any .service files', 'the Secret Service is not running'],
    ['Platform failure: DBus error: Process org.freedesktop.secrets exited with status 1', 'the Secret Service failed to start'],
    ['Platform failure: DBus error: Did not receive a reply. Possible causes include: the remote application did not send a reply, the message bus security policy blocked the reply, the reply timeout expired, or the network connection was broken.', 'the Secret Service did not reply'],
    ["Couldn't access platform storage: Secret Service: unlock prompt was dismissed", 'the keychain is locked'],
    ["Couldn't access platform storage: Secret Service: object locked", 'the keychain is locked'],
    ["Couldn't access platform storage: Secret Service: no result found", 'the keychain has no default collection'],
  ];
  for (const [message, reason] of seen) {
    const error = Object.assign(new Error(message), { code: 'GenericFailure' });
    assert.equal(classifyKeychainError(error), reason, message);
  }
});

test('unknown errors keep the library message, shortened, on one line', () => {
  assert.equal(
    classifyKeychainError(new Error('Platform failure: DBus error: something\nnew happened')),
    'the keychain failed: something new happened',
  );
  assert.equal(classifyKeychainError('plain string'), 'the keychain failed: plain string');
  assert.equal(classifyKeychainError(new Error('')), 'the keychain failed');
  const long = classifyKeychainError(new Error('x'.repeat(500)));
  assert.equal(long, `the keychain failed: ${'x'.repeat(157)}...`);
  assert.equal(classifyKeychainError(new KeychainUnavailable('already classified')), 'already classified');
});

test('timeout reasons name the limit in seconds', () => {
  assert.equal(timeoutReason(5000), 'the keychain did not answer in 5 s');
  assert.equal(timeoutReason(1000), 'the keychain did not answer in 1 s');
  assert.equal(timeoutReason(100), 'the keychain did not answer in 0.1 s');
  const error = new KeychainUnavailable(KEYCHAIN_REASONS.locked);
  assert.equal(error.name, 'KeychainUnavailable');
  assert.equal(error.message, 'the OS keychain is unavailable: the keychain is locked');
  assert.ok(error instanceof Error);
});

/** A fake AsyncEntry; `behaviour` decides what each call does. */
interface Call { op: string; service: string; account: string; options: unknown; arg?: unknown; signal?: AbortSignal | null }
function fakeKeyring(behaviour: (call: Call) => Promise<unknown> | unknown, ctorError?: Error) {
  const calls: Call[] = [];
  let loads = 0;
  class AsyncEntry {
    constructor(readonly service: string, readonly account: string, readonly options: unknown) {
      if (ctorError) throw ctorError;
    }
    private call(op: string, arg: unknown, signal?: AbortSignal | null): Promise<unknown> {
      const call: Call = { op, service: this.service, account: this.account, options: this.options, arg, signal };
      calls.push(call);
      return Promise.resolve().then(() => behaviour(call));
    }
    getPassword(signal?: AbortSignal | null) { return this.call('getPassword', undefined, signal); }
    setPassword(password: string, signal?: AbortSignal | null) { return this.call('setPassword', password, signal); }
    deleteCredential(signal?: AbortSignal | null) { return this.call('deleteCredential', undefined, signal); }
  }
  const loadModule = (async () => {
    loads += 1;
    return { AsyncEntry };
  }) as unknown as NonNullable<SystemKeychainOptions['loadModule']>;
  return { calls, loadModule, loads: () => loads };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected a rejection');
}

test('write stores canonical base64 with setPassword, pinned to the Secret Service', async () => {
  const fake = fakeKeyring(() => undefined);
  const kc = systemKeychain(BUS, { loadModule: fake.loadModule, platform: 'linux' });
  // A view into a larger buffer: only the view's bytes may be stored.
  await kc.write(ACCOUNT, Buffer.concat([Buffer.from('prefix'), Buffer.from(KEK_HEX, 'hex'), Buffer.from('suffix')]).subarray(6, 38));
  assert.deepEqual(fake.calls.map(({ signal, ...rest }) => ({ ...rest, signalIsAbortSignal: signal instanceof AbortSignal })), [
    { op: 'setPassword', service: 'vault', account: ACCOUNT, options: { linux: { store: 'secret-service' } }, arg: KEK_B64, signalIsAbortSignal: true },
  ]);
});

test('read decodes exact bytes, null when absent, and rejects non-canonical base64', async () => {
  const stored = new Map<string, string | null>([['ok', KEK_B64], ['none', null], ['junk', 'not base64!'], ['noncanonical', 'fx=='], ['empty', '']]);
  let current = 'ok';
  const fake = fakeKeyring(() => stored.get(current));
  const kc = systemKeychain(BUS, { loadModule: fake.loadModule, platform: 'linux' });
  assert.equal((await kc.read(ACCOUNT))?.toString('hex'), KEK_HEX);
  current = 'none';
  assert.equal(await kc.read(ACCOUNT), null);
  for (const bad of ['junk', 'noncanonical', 'empty']) {
    current = bad;
    const error = await rejection(kc.read(ACCOUNT));
    assert.ok(error instanceof KeychainUnavailable, bad);
    assert.equal(error.reason, 'the keychain entry is not valid base64', bad);
  }
});

test('remove reports whether an entry was deleted', async () => {
  let result = true;
  const fake = fakeKeyring(() => result);
  const kc = systemKeychain(BUS, { loadModule: fake.loadModule, platform: 'linux' });
  assert.equal(await kc.remove(ACCOUNT), true);
  result = false;
  assert.equal(await kc.remove(ACCOUNT), false);
  assert.deepEqual(fake.calls.map((c) => c.op), ['deleteCredential', 'deleteCredential']);
});

test('probe only reads an absent entry, never writes', async () => {
  const fake = fakeKeyring(() => null);
  const kc = systemKeychain(BUS, { loadModule: fake.loadModule, platform: 'linux' });
  assert.deepEqual(await kc.probe(), { available: true });
  assert.deepEqual(fake.calls.map((c) => [c.op, c.service, c.account]), [['getPassword', 'vault', PROBE_ACCOUNT]]);
});

test('without DBUS_SESSION_BUS_ADDRESS nothing is loaded and every call is unavailable at once', async () => {
  for (const env of [{}, { DBUS_SESSION_BUS_ADDRESS: '' }, { DBUS_SESSION_BUS_ADDRESS: '  ' }]) {
    const fake = fakeKeyring(() => assert.fail('must not be called'));
    const kc = systemKeychain(env, { loadModule: fake.loadModule, platform: 'linux' });
    assert.deepEqual(await kc.probe(), { available: false, reason: 'no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset)' });
    for (const op of [() => kc.read(ACCOUNT), () => kc.write(ACCOUNT, Buffer.alloc(32, 1)), () => kc.remove(ACCOUNT)]) {
      const error = await rejection(op());
      assert.ok(error instanceof KeychainUnavailable);
      assert.equal(error.reason, 'no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset)');
    }
    assert.equal(fake.loads(), 0);
  }
});

test('macOS and Windows do not need a D-Bus address', async () => {
  for (const platform of ['darwin', 'win32'] as const) {
    const fake = fakeKeyring(() => null);
    const kc = systemKeychain({}, { loadModule: fake.loadModule, platform });
    assert.deepEqual(await kc.probe(), { available: true });
    assert.equal(fake.loads(), 1);
  }
});

test('a constructor or call failure becomes KeychainUnavailable with the classified reason', async () => {
  const ctorFails = fakeKeyring(() => null, new Error('Platform failure: DBus error: The name org.freedesktop.secrets was not provided by any .service files'));
  const kc1 = systemKeychain(BUS, { loadModule: ctorFails.loadModule, platform: 'linux' });
  assert.deepEqual(await kc1.probe(), { available: false, reason: 'the Secret Service is not running' });

  const callFails = fakeKeyring(() => {
    throw new Error("Couldn't access platform storage: Secret Service: unlock prompt was dismissed");
  });
  const kc2 = systemKeychain(BUS, { loadModule: callFails.loadModule, platform: 'linux' });
  const error = await rejection(kc2.read(ACCOUNT));
  assert.ok(error instanceof KeychainUnavailable);
  assert.equal(error.reason, 'the keychain is locked');
  assert.ok(error.cause instanceof Error);
});

test('a module that cannot be loaded is reported, not thrown through', async () => {
  const kc = systemKeychain(BUS, {
    platform: 'linux',
    loadModule: async () => {
      throw new Error('Cannot find native binding');
    },
  });
  assert.deepEqual(await kc.probe(), { available: false, reason: 'the keyring module could not be loaded' });
});

test('a call that never answers times out, is aborted, and leaves no unhandled rejection', async () => {
  unhandled = [];
  let settleLate: ((error: Error) => void) | undefined;
  const fake = fakeKeyring(() => new Promise((_, reject) => {
    settleLate = reject;
  }));
  const kc = systemKeychain(BUS, { loadModule: fake.loadModule, platform: 'linux', timeoutMs: 100 });
  const started = performance.now();
  const error = await rejection(kc.read(ACCOUNT));
  const elapsed = performance.now() - started;
  assert.ok(error instanceof KeychainUnavailable);
  assert.equal(error.reason, 'the keychain did not answer in 0.1 s');
  assert.ok(elapsed >= 95 && elapsed < 1000, `took ${elapsed} ms`);
  assert.equal(fake.calls[0]?.signal?.aborted, true);
  settleLate?.(new Error('AbortError: late'));
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(unhandled, []);
});

test('bad arguments are programming errors, not an unavailable keychain', async () => {
  const fake = fakeKeyring(() => null);
  const kc = systemKeychain(BUS, { loadModule: fake.loadModule, platform: 'linux' });
  for (const account of ['', 'ABCDEF0123456789ABCDEF0123456789', '0a1b2c3d', `${ACCOUNT}0`, '../../etc/passwd']) {
    await assert.rejects(kc.read(account), TypeError, account);
  }
  await assert.rejects(kc.write(ACCOUNT, Buffer.alloc(0)), RangeError);
  await assert.rejects(kc.write(ACCOUNT, Buffer.alloc(1025)), RangeError);
  await assert.rejects(kc.write(ACCOUNT, 'string' as unknown as Buffer), TypeError);
  assert.throws(() => systemKeychain(BUS, { timeoutMs: 0 }), RangeError);
  assert.equal(fake.calls.length, 0);
});
