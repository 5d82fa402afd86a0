/**
 * Runs systemKeychain() against whatever keychain the environment points at and prints one
 * JSON line on stdout. keychain.test.ts runs it inside test/helpers/keyring-session.sh (a
 * private bus with a real GNOME Keyring) or without any bus, and compares the JSON exactly.
 *
 *   node dist/test/keychain/driver.js SCENARIO [timeoutMs]
 *
 * Scenarios: roundtrip | unavailable | seed | locked | timeout (see below).
 * Timings are printed as `ms` fields so the test can check them and then drop them.
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { KeychainUnavailable, systemKeychain, type SystemKeychain } from '../../src/unlock/keychain.js';

const require = createRequire(import.meta.url);

/** Two vault ids (accounts) and KEKs with bytes 0x00, 0x7f, 0x80 and 0xff in them. */
export const ACCOUNT_A = '0a1b2c3d4e5f60718293a4b5c6d7e8f9';
export const ACCOUNT_B = 'f9e8d7c6b5a4938271605f4e3d2c1b0a';
export const KEK_A = '00ff807f0102030405060708090a0b0c0d0e0f10111213141516171819fefdfc';
export const KEK_A2 = '1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100';
export const KEK_B = 'ffffffffffffffffffffffffffffffff00000000000000000000000000000080';

type Outcome = unknown;

function moduleLoaded(): boolean {
  return Object.keys(require.cache).some((path) => path.includes('@napi-rs/keyring'));
}

/** Runs one operation and reports its value (Buffers as hex) or its KeychainUnavailable. */
async function attempt(fn: () => Promise<unknown>): Promise<{ result: Outcome; ms: number }> {
  const started = performance.now();
  let result: Outcome;
  try {
    const value = await fn();
    result = Buffer.isBuffer(value) ? { value: value.toString('hex') } : { value: value ?? null };
  } catch (error) {
    result = error instanceof KeychainUnavailable
      ? { error: error.name, reason: error.reason }
      : { crash: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
  return { result, ms: Math.round(performance.now() - started) };
}

/** Items of the Secret Service with attributes service=vault, username=ACCOUNT in the default collection. */
function secretServiceItems(account: string): number {
  const collection = process.env.KEYRING_SESSION_COLLECTION;
  if (!collection) return -1;
  const reply = execFileSync('dbus-send', [
    '--session', '--print-reply=literal', '--reply-timeout=5000', '--dest=org.freedesktop.secrets',
    '/org/freedesktop/secrets', 'org.freedesktop.Secret.Service.SearchItems',
    `dict:string:string:service,vault,username,${account}`,
  ], { encoding: 'utf8' });
  return reply.split(/\s+/).filter((word) => word.startsWith(`${collection}/`)).length;
}

/** What the Secret Service holds for the account, read with the library directly (format check). */
async function storedText(account: string): Promise<string | null> {
  const { AsyncEntry } = await import('@napi-rs/keyring');
  return new AsyncEntry('vault', account, { linux: { store: 'secret-service' } }).getPassword();
}

const kek = (hex: string): Buffer => Buffer.from(hex, 'hex');

async function roundtrip(kc: SystemKeychain): Promise<Record<string, unknown>> {
  const steps: Array<[string, () => Promise<unknown>]> = [
    ['probe', () => kc.probe()],
    ['readA_before', () => kc.read(ACCOUNT_A)],
    ['writeA', () => kc.write(ACCOUNT_A, kek(KEK_A))],
    ['readA', () => kc.read(ACCOUNT_A)],
    ['storedA', () => storedText(ACCOUNT_A)],
    ['itemsA', async () => secretServiceItems(ACCOUNT_A)],
    ['readB_absent', () => kc.read(ACCOUNT_B)],
    ['writeB', () => kc.write(ACCOUNT_B, kek(KEK_B))],
    ['readB', () => kc.read(ACCOUNT_B)],
    ['readA_afterB', () => kc.read(ACCOUNT_A)],
    ['overwriteA', () => kc.write(ACCOUNT_A, kek(KEK_A2))],
    ['readA_overwritten', () => kc.read(ACCOUNT_A)],
    ['itemsA_overwritten', async () => secretServiceItems(ACCOUNT_A)],
    ['removeA', () => kc.remove(ACCOUNT_A)],
    ['readA_removed', () => kc.read(ACCOUNT_A)],
    ['itemsA_removed', async () => secretServiceItems(ACCOUNT_A)],
    ['removeA_again', () => kc.remove(ACCOUNT_A)],
    ['readB_afterRemoveA', () => kc.read(ACCOUNT_B)],
    ['removeB', () => kc.remove(ACCOUNT_B)],
    ['itemsB_removed', async () => secretServiceItems(ACCOUNT_B)],
  ];
  const out: Record<string, unknown> = {};
  for (const [name, fn] of steps) out[name] = (await attempt(fn)).result;
  return out;
}

/** Like roundtrip, with each step's duration in `ms`. */
async function timed(steps: Array<[string, () => Promise<unknown>]>): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of steps) {
    const { result, ms } = await attempt(fn);
    out[name] = { ...(result as object), ms };
  }
  return out;
}

async function main(): Promise<void> {
  const [scenario, timeoutArg] = process.argv.slice(2);
  const kc = systemKeychain(process.env, timeoutArg ? { timeoutMs: Number(timeoutArg) } : {});
  let out: Record<string, unknown>;
  switch (scenario) {
    case 'roundtrip':
      out = await roundtrip(kc);
      break;
    case 'unavailable': // nothing reachable: every operation must report the same reason
      out = await timed([
        ['probe', () => kc.probe()],
        ['read', () => kc.read(ACCOUNT_A)],
        ['write', () => kc.write(ACCOUNT_A, kek(KEK_A))],
        ['remove', () => kc.remove(ACCOUNT_A)],
      ]);
      break;
    case 'seed': // before `locked`: an entry that the locked collection then hides
      out = await timed([['writeA', () => kc.write(ACCOUNT_A, kek(KEK_A))]]);
      break;
    case 'locked':
      out = await timed([
        ['probe', () => kc.probe()],
        ['readA', () => kc.read(ACCOUNT_A)],
        ['readB_absent', () => kc.read(ACCOUNT_B)],
        ['writeA', () => kc.write(ACCOUNT_A, kek(KEK_A2))],
        ['writeB', () => kc.write(ACCOUNT_B, kek(KEK_B))],
        ['removeA', () => kc.remove(ACCOUNT_A)],
        ['removeB_absent', () => kc.remove(ACCOUNT_B)],
      ]);
      break;
    case 'timeout': // locked collection, unlock prompt that nobody answers
      out = await timed([
        ['probe', () => kc.probe()],
        ['readA', () => kc.read(ACCOUNT_A)],
      ]);
      break;
    default:
      throw new Error(`unknown scenario ${scenario}`);
  }
  out.moduleLoaded = moduleLoaded();
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

await main();
