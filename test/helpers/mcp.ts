import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { PassThrough } from 'node:stream';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { addGrant, type GrantSpec } from '../../src/core/grants.js';
import { baseEnv, BIN, ROOT, runVault } from './cli.js';
import { cheapVault, openWithKey } from './vaults.js';

/**
 * The SDK's own client, spawning `node bin/vault.js mcp --grant NAME` against a real vault
 * over stdio. `errors` collects what the transport could not parse (stray output on stdout
 * would land here); `stderr` is the server's stderr.
 */
export interface McpSession {
  client: Client;
  errors: Error[];
  stderr: () => string;
  call: (name: string, args: Record<string, unknown>) => Promise<ToolOutcome>;
  close: () => Promise<void>;
}

export interface ToolOutcome {
  isError: boolean;
  text: string;
  /** the text parsed as JSON when it is JSON */
  json: any;
}

export async function startMcp(grant: string, env: Record<string, string>): Promise<McpSession> {
  const stderrStream = new PassThrough();
  let stderr = '';
  stderrStream.on('data', (c: Buffer) => (stderr += c.toString()));
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BIN, 'mcp', '--grant', grant],
    env: { ...baseEnv(tmpdir()), ...env },
    cwd: ROOT,
    stderr: 'pipe',
  });
  const errors: Error[] = [];
  const client = new Client({ name: 'vault-tests', version: '1.0.0' });
  client.onerror = (e) => errors.push(e);
  const connecting = client.connect(transport);
  transport.stderr?.pipe(stderrStream);
  await connecting;
  return {
    client,
    errors,
    stderr: () => stderr,
    call: async (name, args) => {
      const r = (await client.callTool({ name, arguments: args })) as { isError?: boolean; content: Array<{ type: string; text?: string }> };
      const text = r.content.map((c) => c.text ?? '').join('');
      let json: unknown = undefined;
      try {
        json = JSON.parse(text);
      } catch {
        // not JSON
      }
      return { isError: r.isError === true, text, json };
    },
    close: () => client.close(),
  };
}

export const VALUE = 'sk-live-9f8e7d6c5b4a3210';
export const OTHER = 'db-pass-0123456789abcdef';
export type V = Awaited<ReturnType<typeof cheapVault>>;

export function spec(name: string, extra: Partial<GrantSpec> = {}): GrantSpec {
  return { name, secrets: [{ ns: 'default', name: 'API_KEY' }, { ns: 'default', name: 'PORT' }], ns: null, prefix: null, hosts: [], commands: null, expiresAt: null, maxUses: null, rate: null, reveal: false, ...extra };
}

export async function setup(grants: GrantSpec[], values: { API_KEY?: string } = {}): Promise<V> {
  const v = await cheapVault();
  const vault = await openWithKey(v);
  try {
    vault.put({ ns: 'default', name: 'API_KEY' }, Buffer.from(values.API_KEY ?? VALUE));
    vault.put({ ns: 'default', name: 'PORT' }, Buffer.from('8080'), { notSecret: true });
    vault.put({ ns: 'default', name: 'DB_PASSWORD' }, Buffer.from(OTHER));
    for (const g of grants) addGrant(vault, g);
  } finally {
    vault.close();
  }
  return v;
}

export async function withMcp(grants: GrantSpec[], grant: string, fn: (m: McpSession, v: V) => Promise<void>, options: { env?: Record<string, string>; values?: { API_KEY?: string } } = {}): Promise<void> {
  const v = await setup(grants, options.values);
  const m = await startMcp(grant, { ...v.env, ...options.env });
  try {
    await fn(m, v);
    assert.deepEqual(m.errors.map((e) => e.message), [], 'the protocol stream held only protocol messages');
  } finally {
    await m.close();
    v.cleanup();
  }
}

export async function auditOf(v: V, grant: string): Promise<Array<Record<string, any>>> {
  const r = await runVault(['audit', '--grant', grant, '--json'], { env: v.env });
  assert.equal(r.status, 0, r.stderr);
  return r.out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);
}

