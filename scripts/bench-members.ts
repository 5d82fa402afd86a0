/**
 * Team-vault members (issue 11): `vault member rm` at 10,000 secrets, on a file vault and on a
 * loopback PostgreSQL vault. Build, then run (root or a user that can run initdb):
 *
 *   npx tsc -p . && node dist/scripts/bench-members.js [--rounds N]
 *
 * For each store: a vault with a master-key slot (unlocking costs an HKDF, not a passphrase
 * KDF), 10,000 secrets imported, then per round a member added (`vault member add`) and the
 * whole process `vault member rm NAME --yes` timed: the slot deleted, every secret marked
 * rotation due, every version re-encrypted under a new data key, in one transaction. The
 * goal of the issue: under 10 s. Median of the rounds (default 3).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Vault } from '../src/core/vault.js';
import { formatPublicKey } from '../src/core/identity.js';
import { slotPublicKey } from '../src/crypto/slotwrap.js';
import { addMasterKey } from '../src/unlock/slots.js';
import { startCluster } from '../test/helpers/pg.js';
import { median, printRows, timeRun, type BenchRow } from './bench-row.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'bin', 'vault.js');
const SECRETS = 10_000;

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i !== -1 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

async function makeVault(location: string, anchors: string): Promise<string> {
  const vault = await Vault.create(location, { passphrase: Buffer.from('bench passphrase'), kdf: { name: 'scrypt', params: { N: 2 ** 14, r: 8, p: 1 } }, anchorDir: anchors });
  try {
    return (await addMasterKey(vault, 'bench')).key;
  } finally {
    vault.close();
  }
}

/** One whole `vault ARGS` process, timed. */
function run(args: string[], env: NodeJS.ProcessEnv): number {
  return timeRun([BIN, ...args], env);
}

export async function measure(): Promise<BenchRow[]> {
  const rounds = Number(flag('--rounds', '3'));
  const base = mkdtempSync(join(tmpdir(), 'vault-bench-members-'));
  const cluster = startCluster();
  try {
    const state = join(base, 'state');
    const anchors = join(state, 'vault', 'anchors');
    const envFile = join(base, 'many.env');
    writeFileSync(envFile, Array.from({ length: SECRETS }, (_, i) => `SECRET_${i}=value-${i}-${'x'.repeat(24)}`).join('\n') + '\n');
    const rows: BenchRow[] = [];
    for (const [store, location] of [['file', join(base, 'vault', 'vault.db')], ['postgres', cluster.url('members')]] as const) {
      const key = await makeVault(location, anchors);
      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: base, XDG_STATE_HOME: state, VAULT_PATH: location, VAULT_MASTER_KEY: key, VAULT_SESSION: 'off' };
      run(['import', envFile], env);
      const times: number[] = [];
      for (let i = 0; i < rounds; i++) {
        const pub = formatPublicKey(slotPublicKey(randomBytes(32)));
        run(['member', 'add', `m${i}`, pub], env);
        times.push(run(['member', 'rm', `m${i}`, '--yes'], env));
      }
      const m = median(times);
      rows.push({ label: `vault member rm at ${SECRETS.toLocaleString('en')} secrets (${store})`, figure: `${(m / 1000).toFixed(2)} s (median of ${rounds}; whole process)`, goal: '< 10 s', met: m < 10_000 });
    }
    return rows;
  } finally {
    cluster.destroy();
    rmSync(base, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  printRows(await measure());
}
