/**
 * Runs vault commands one after another inside whatever session it is started in (the tests
 * start it inside test/helpers/keyring-session.sh, a private D-Bus with a real GNOME Keyring)
 * and prints one JSON array of results on stdout. The vault's own stdout and stderr are
 * captured apart from the session's (dbus-daemon writes notices to the session's stderr).
 *
 *   node dist/test/helpers/vault-steps.js '<json steps>'
 *
 * A step is { args, env?, input? } (a vault command; env adds to PATH, HOME, LANG and the
 * session's D-Bus and XDG variables) or { forget: VAULT_PATH } (deletes that vault's key from
 * the keychain behind vault's back, as a user would with Seahorse).
 */
import { spawnSync } from 'node:child_process';
import { Vault } from '../../src/core/vault.js';
import { openVault, VaultError } from '../../src/index.js';
import { systemKeychain } from '../../src/unlock/keychain.js';
import { BIN } from './cli.js';

export type Step =
  | { args: string[]; env?: Record<string, string>; input?: string }
  | { forget: string }
  /** openVault({ path, unlock: { keychain: true } }).get(name), through the library API */
  | { libraryGet: { path: string; name: string } };
export interface StepResult {
  status: number | null;
  out: string;
  stderr: string;
}

const PASS = ['PATH', 'HOME', 'DBUS_SESSION_BUS_ADDRESS', 'XDG_RUNTIME_DIR', 'XDG_DATA_HOME', 'XDG_CONFIG_HOME', 'XDG_CACHE_HOME'];

async function main(): Promise<void> {
  const steps = JSON.parse(process.argv[2] ?? '[]') as Step[];
  const results: StepResult[] = [];
  for (const step of steps) {
    if ('forget' in step) {
      const vault = Vault.open(step.forget);
      const id = vault.id;
      vault.close();
      const removed = await systemKeychain(process.env).remove(id);
      results.push({ status: removed ? 0 : 1, out: '', stderr: '' });
      continue;
    }
    if ('libraryGet' in step) {
      try {
        const handle = await openVault({ path: step.libraryGet.path, unlock: { keychain: true } });
        try {
          results.push({ status: 0, out: handle.get(step.libraryGet.name), stderr: '' });
        } finally {
          handle.close();
        }
      } catch (e) {
        results.push({ status: e instanceof VaultError ? e.exitStatus : 1, out: '', stderr: `${(e as Error).message}\n` });
      }
      continue;
    }
    const env: Record<string, string> = { LANG: 'C.UTF-8' };
    for (const k of PASS) if (process.env[k] !== undefined) env[k] = process.env[k]!;
    Object.assign(env, step.env ?? {});
    const r = spawnSync(process.execPath, [BIN, ...step.args], { env, input: step.input ?? '', encoding: 'utf8', timeout: 60_000 });
    results.push({ status: r.status, out: r.stdout, stderr: r.stderr });
  }
  process.stdout.write(JSON.stringify(results));
}

await main();
