/**
 * `vault mcp` run_command round trip against running the same command directly
 * (`node dist/scripts/bench-mcp.js [--runs N]`, or through npm run bench). The round trip is
 * what an agent pays per call: the JSON-RPC request over stdio, the grant check and use count
 * in one write transaction with its audit entry (a commit with fsync), the spawn, the masked
 * capture, the reply. "Direct" is the same spawn from this process, nothing else.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { addGrant } from '../src/core/grants.js';
import { Vault } from '../src/core/vault.js';
import { addMasterKey } from '../src/unlock/slots.js';
import { median, printRows, type BenchRow } from './bench-row.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'bin', 'vault.js');

function runsFlag(): number {
  const i = process.argv.indexOf('--runs');
  return i !== -1 ? Number(process.argv[i + 1]) : 30;
}

const fmt = (ms: number): string => `${ms.toFixed(1)} ms`;

function direct(file: string, args: string[], env: Record<string, string>): Promise<void> {
  return new Promise((res, rej) => {
    const child = spawn(file, args, { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    child.stdout.resume();
    child.stderr.resume();
    child.stdin.end();
    child.on('error', rej);
    child.on('close', () => res());
  });
}

export async function measure(): Promise<BenchRow[]> {
  const runs = runsFlag();
  const dir = mkdtempSync(join(tmpdir(), 'vault-bench-mcp-'));
  const path = join(dir, 'vault.db');
  try {
    const vault = await Vault.create(path, { passphrase: Buffer.from('bench passphrase'), kdf: { name: 'scrypt', params: { N: 2 ** 14, r: 8, p: 1 } }, anchorDir: join(dir, 'anchors') });
    let key: string;
    try {
      key = (await addMasterKey(vault, 'bench')).key;
      vault.put({ ns: 'default', name: 'API_KEY' }, Buffer.from('bench-value-0123456789abcdef'));
      addGrant(vault, { name: 'bench', secrets: [{ ns: 'default', name: 'API_KEY' }], ns: null, prefix: null, hosts: [], commands: null, expiresAt: null, maxUses: null, rate: null, reveal: false });
    } finally {
      vault.close();
    }
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, VAULT_PATH: path, VAULT_MASTER_KEY: key, XDG_STATE_HOME: join(dir, 'state') };
    const transport = new StdioClientTransport({ command: process.execPath, args: [BIN, 'mcp', '--grant', 'bench'], env, stderr: 'ignore' });
    const client = new Client({ name: 'vault-bench', version: '1' });
    await client.connect(transport);
    const rows: BenchRow[] = [];
    try {
      for (const [label, argv] of [
        ['true', ['true']],
        ['node -e ""', [process.execPath, '-e', '']],
      ] as Array<[string, string[]]>) {
        const viaMcp: number[] = [];
        const viaSpawn: number[] = [];
        // one warm-up each
        await client.callTool({ name: 'run_command', arguments: { command: argv, reason: 'bench' } });
        await direct(argv[0]!, argv.slice(1), { ...env, API_KEY: 'x' });
        for (let k = 0; k < runs; k++) {
          let t = performance.now();
          const r = (await client.callTool({ name: 'run_command', arguments: { command: argv, reason: 'bench' } })) as { isError?: boolean };
          viaMcp.push(performance.now() - t);
          if (r.isError) throw new Error('run_command was refused in the benchmark');
          t = performance.now();
          await direct(argv[0]!, argv.slice(1), { ...env, API_KEY: 'x' });
          viaSpawn.push(performance.now() - t);
        }
        const m = median(viaMcp);
        const d = median(viaSpawn);
        rows.push({ label: `mcp run_command round trip (${label})`, figure: `${fmt(m)} (direct ${fmt(d)}, ${m >= d ? '+' : '−'}${fmt(Math.abs(m - d))})`, goal: '', met: null });
      }
    } finally {
      await client.close();
    }
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printRows(await measure());
}
