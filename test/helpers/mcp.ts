import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { PassThrough } from 'node:stream';
import { baseEnv, BIN, ROOT } from './cli.js';
import { tmpdir } from 'node:os';

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
