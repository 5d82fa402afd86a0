/**
 * `vault scan` on a tree of 10,000 files with 1,000 stored secrets (issue 10 §6). Build, then run:
 *
 *   npx tsc -p . && node scripts/bundle.js && node dist/scripts/bench-scan.js [--dir DIR] [--runs N]
 *
 * Makes a vault (master-key slot, so unlocking costs no passphrase KDF) with 1,000 secrets
 * stored through the library, and a tree of 10,000 source-like files (100 directories of 100,
 * 1–8 KiB each, about 45 MB) with 10 stored values planted in it; then times the whole
 * `vault scan TREE` process (start-up, unlock, the audited bulk read, compiling the patterns,
 * the walk and the one pass over the bytes), median of N runs (default 3). Checks that exactly
 * the planted findings come out.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { importSecrets } from '../src/core/bulk.js';
import { Vault } from '../src/core/vault.js';
import { addMasterKey } from '../src/unlock/slots.js';
import { median, printRows, type BenchRow } from './bench-row.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'bin', 'vault.js');

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i !== -1 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const LINES = [
  "import { readFileSync } from 'node:fs';",
  'export function handler(req, res) {',
  '  const id = req.params.id;',
  '  if (!id) return res.status(400).json({ error: "missing id" });',
  '  // TODO: cache the lookup',
  '  const row = db.prepare("SELECT * FROM items WHERE id = ?").get(id);',
  '  return res.json(row);',
  '}',
  'const retries = 3;',
  '',
];

export async function measure(): Promise<BenchRow[]> {
  const runs = Number(flag('--runs', '3'));
  const base = mkdtempSync(join(flag('--dir', tmpdir()), 'vault-bench-scan-'));
  try {
    const path = join(base, 'vault.db');
    const vault = await Vault.create(path, { passphrase: Buffer.from('bench passphrase'), kdf: { name: 'scrypt', params: { N: 2 ** 14, r: 8, p: 1 } }, anchorDir: join(base, 'anchors') });
    const values: Buffer[] = Array.from({ length: 1000 }, (_, i) => Buffer.from(i % 2 ? `tok_${randomBytes(18).toString('base64url')}` : randomBytes(16).toString('hex')));
    let key: string;
    try {
      key = (await addMasterKey(vault, 'bench')).key;
      importSecrets(vault, 'default', values.map((value, i) => ({ name: `SECRET_${i}`, value: Buffer.from(value) })));
    } finally {
      vault.close();
    }
    const tree = join(base, 'tree');
    let bytes = 0;
    const expected: string[] = [];
    for (let d = 0; d < 100; d++) {
      const dir = join(tree, `pkg${d}`, 'src');
      mkdirSync(dir, { recursive: true });
      for (let f = 0; f < 100; f++) {
        const n = 1024 + ((d * 100 + f) * 7919) % 7168;
        let text = '';
        for (let l = 0; text.length < n; l++) text += `${LINES[(l + f) % LINES.length]} // ${randomBytes(6).toString('hex')}\n`;
        if (f === 50 && d % 10 === 0) {
          const k = d * 7;
          text = `const key = "${values[k]!.toString()}";\n` + text;
          expected.push(`pkg${d}/src/file${f}.js:1: SECRET_${k}`);
        }
        writeFileSync(join(dir, `file${f}.js`), text);
        bytes += text.length;
      }
    }
    expected.sort();
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: base, VAULT_PATH: path, VAULT_MASTER_KEY: key, XDG_STATE_HOME: join(base, 'state') };
    const times: number[] = [];
    for (let r = 0; r < runs; r++) {
      const t = performance.now();
      const out = spawnSync(process.execPath, [BIN, 'scan', '--quiet', '.'], { cwd: tree, env, encoding: 'utf8' });
      times.push(performance.now() - t);
      const got = out.stdout.split('\n').filter((l) => l !== '').sort();
      if (out.status !== 1 || JSON.stringify(got) !== JSON.stringify(expected)) throw new Error(`vault scan gave ${out.status}: ${out.stdout}${out.stderr}`);
    }
    const ms = median(times);
    return [
      {
        label: `vault scan, 10,000 files (${(bytes / 1e6).toFixed(0)} MB), 1,000 secrets`,
        figure: `${(ms / 1000).toFixed(2)} s (${(bytes / 1e6 / (ms / 1000)).toFixed(0)} MB/s, ${((ms * 1000) / 10_000).toFixed(0)} µs/file)`,
        goal: '',
        met: null,
      },
    ];
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  printRows(await measure());
}
