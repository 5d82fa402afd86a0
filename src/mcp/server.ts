import type { Readable, Writable } from 'node:stream';
import { authorize, recordRefusal, refusalText, type Authorized, type Grant } from '../core/grants.js';
import { VaultError } from '../core/errors.js';
import { formatRef, parseSecretRef } from '../core/names.js';
import type { Vault } from '../core/vault.js';
import { wipe } from '../crypto/aead.js';
import { childEnvironment } from '../exec/environment.js';
import { fill, hostAllowed, MAX_BODY, METHODS, placeholderNames, send, type HttpSpec } from './http.js';
import { killRunning, OUTPUT_CAP, runCaptured } from './run.js';

/**
 * `vault mcp --grant NAME`: an MCP server on stdio (the official SDK, loaded only here) whose
 * tools let an agent use the grant's secrets without seeing them (docs/security.md, "Grants").
 * Every call, allowed or refused, leaves an audit entry (src/core/grants.ts authorize); every
 * refusal is a tool error with one line and no value. stdout carries only protocol messages.
 */

export const DEFAULT_TIMEOUT_S = 60;
export const MAX_TIMEOUT_S = 600;
const MAX_ARGV = 1000;
const MAX_TEXT = 100_000;

type Args = Record<string, unknown>;
interface ToolResult {
  content: Array<{ type: 'text'; text: string }>;
  isError?: boolean;
  [k: string]: unknown;
}

/** A malformed argument: a tool error, never a crash. */
class BadArgs extends Error {}

function str(args: Args, key: string, required: boolean, max = MAX_TEXT): string | undefined {
  const v = args[key];
  if (v === undefined || v === null) {
    if (required) throw new BadArgs(`missing argument ${key}`);
    return undefined;
  }
  if (typeof v !== 'string') throw new BadArgs(`argument ${key} must be a string`);
  if (required && v.trim() === '') throw new BadArgs(`argument ${key} must not be empty`);
  if (v.length > max) throw new BadArgs(`argument ${key} is longer than ${max} characters`);
  return v;
}

function strList(args: Args, key: string, required: boolean): string[] | undefined {
  const v = args[key];
  if (v === undefined || v === null) {
    if (required) throw new BadArgs(`missing argument ${key}`);
    return undefined;
  }
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new BadArgs(`argument ${key} must be an array of strings`);
  if (v.length > MAX_ARGV) throw new BadArgs(`argument ${key} has more than ${MAX_ARGV} items`);
  return v as string[];
}

function onlyKeys(args: Args, allowed: string[]): void {
  for (const k of Object.keys(args)) if (!allowed.includes(k)) throw new BadArgs(`unknown argument ${k}`);
}

const REASON = { type: 'string', description: 'why you need this, in one sentence; recorded in the audit log' };

interface ToolSpec {
  name: string;
  description: string;
  inputSchema: Record<string, unknown>;
}

function toolList(reveal: boolean): ToolSpec[] {
  const tools: ToolSpec[] = [
    {
      name: 'list_secrets',
      description: 'The names and metadata (namespace, version, updated, expiry, description) of the secrets this grant lets you use. Never values.',
      inputSchema: { type: 'object', properties: { reason: REASON }, additionalProperties: false },
    },
    {
      name: 'run_command',
      description:
        `Run a program (argv, no shell) with granted secrets as environment variables named after them. You never see the values: stdout and stderr come back masked and cut at ${OUTPUT_CAP} bytes each.`,
      inputSchema: {
        type: 'object',
        properties: {
          command: { type: 'array', items: { type: 'string' }, minItems: 1, description: 'argv: the program and its arguments' },
          secrets: { type: 'array', items: { type: 'string' }, description: 'the secrets to inject (NAME or NS/NAME); default: every granted secret' },
          reason: REASON,
          cwd: { type: 'string', description: 'working directory' },
          stdin: { type: 'string', description: 'text for the program\'s stdin' },
          timeout_s: { type: 'number', minimum: 1, maximum: MAX_TIMEOUT_S, description: `seconds before the process group is killed (default ${DEFAULT_TIMEOUT_S})` },
        },
        required: ['command', 'reason'],
        additionalProperties: false,
      },
    },
    {
      name: 'http_request',
      description:
        'Send an HTTP(S) request to a granted host. Write {{ vault://NAME }} where a secret goes (URL, header values, body); it is filled in only for the grant\'s hosts. Redirects are not followed. The response comes back masked.',
      inputSchema: {
        type: 'object',
        properties: {
          method: { type: 'string', enum: [...METHODS] },
          url: { type: 'string' },
          headers: { type: 'object', additionalProperties: { type: 'string' } },
          body: { type: 'string' },
          reason: REASON,
        },
        required: ['method', 'url', 'reason'],
        additionalProperties: false,
      },
    },
    {
      name: 'request_secret',
      description: 'Ask the human to store a secret you need. Never takes a value: returns the command for the human to run.',
      inputSchema: {
        type: 'object',
        properties: { name: { type: 'string', description: 'NAME or NS/NAME' }, description: { type: 'string' }, reason: REASON },
        required: ['name', 'description', 'reason'],
        additionalProperties: false,
      },
    },
  ];
  if (reveal) {
    tools.push({
      name: 'get_secret',
      description: 'Read a granted secret\'s VALUE (this grant allows it with --reveal).',
      inputSchema: { type: 'object', properties: { name: { type: 'string' }, reason: REASON }, required: ['name', 'reason'], additionalProperties: false },
    });
  }
  return tools;
}

function text(value: unknown, isError = false): ToolResult {
  return { content: [{ type: 'text', text: typeof value === 'string' ? value : JSON.stringify(value, null, 1) }], ...(isError ? { isError: true } : {}) };
}

function refusal(message: string): ToolResult {
  return text(`refused: ${message.split('\n')[0]}`, true);
}

export interface McpOptions {
  vault: Vault;
  grant: Grant;
  /** the environment children inherit (unlock variables are dropped) */
  env: Record<string, string | undefined>;
  /** namespace of bare names in request_secret */
  ns: string;
  version: string;
  stdin: Readable;
  stdout: Writable;
  /** a line for stderr (never stdout: it carries the protocol) */
  log: (line: string) => void;
}

/** The tool calls, independent of the protocol (tested through the real server). */
export class GrantTools {
  constructor(private readonly o: McpOptions) {}

  get names(): string[] {
    return toolList(this.o.grant.reveal).map((t) => t.name);
  }

  list(): ReturnType<typeof toolList> {
    return toolList(this.o.grant.reveal);
  }

  async call(tool: string, raw: unknown): Promise<ToolResult> {
    const args: Args = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Args) : {};
    const reason = typeof args.reason === 'string' ? args.reason : null;
    try {
      if (raw !== undefined && raw !== null && (typeof raw !== 'object' || Array.isArray(raw))) throw new BadArgs('arguments must be an object');
      switch (tool) {
        case 'list_secrets':
          return this.listSecrets(args);
        case 'run_command':
          return await this.runCommand(args);
        case 'http_request':
          return await this.httpRequest(args);
        case 'request_secret':
          return this.requestSecret(args);
        case 'get_secret':
          return this.getSecret(args);
        default:
          throw new BadArgs(`unknown tool ${tool.slice(0, 100)}`);
      }
    } catch (e) {
      if (e instanceof BadArgs) {
        recordRefusal(this.o.vault, this.o.grant.name, tool, reason, e.message);
        return refusal(e.message);
      }
      // refused by authorize (already recorded), or the vault failed (integrity): one line, no value
      if (!(e instanceof VaultError)) this.o.log(`vault mcp: internal error in ${tool}: ${(e as Error)?.name ?? 'unknown'}`);
      return refusal(refusalText(e));
    }
  }

  private authorize(req: Parameters<typeof authorize>[2]): Authorized {
    return authorize(this.o.vault, this.o.grant.name, req);
  }

  private listSecrets(args: Args): ToolResult {
    onlyKeys(args, ['reason']);
    const reason = str(args, 'reason', false) ?? null;
    const r = this.authorize({ tool: 'list_secrets', reason, names: null, use: false });
    return text(
      r.secrets.map((s) => ({
        name: formatRef(s),
        ns: s.ns,
        version: s.version,
        updated: new Date(s.updatedAt).toISOString(),
        expires: s.expiresAt === null ? null : new Date(s.expiresAt).toISOString(),
        description: s.description,
      })),
    );
  }

  private async runCommand(args: Args): Promise<ToolResult> {
    onlyKeys(args, ['command', 'secrets', 'reason', 'cwd', 'stdin', 'timeout_s']);
    const argv = strList(args, 'command', true)!;
    if (argv.length === 0 || argv[0] === '') throw new BadArgs('argument command must hold at least the program to run');
    if (argv.some((a) => a.includes('\0'))) throw new BadArgs('argument command must not hold NUL characters');
    const names = strList(args, 'secrets', false) ?? null;
    const reason = str(args, 'reason', true)!;
    const cwd = str(args, 'cwd', false, 4096);
    const stdin = str(args, 'stdin', false, MAX_BODY);
    const t = args.timeout_s;
    if (t !== undefined && (typeof t !== 'number' || !Number.isFinite(t) || t < 1 || t > MAX_TIMEOUT_S)) throw new BadArgs(`argument timeout_s must be a number of seconds from 1 to ${MAX_TIMEOUT_S}`);
    const program = argv[0]!;
    const r = this.authorize({
      tool: 'run_command',
      reason,
      names,
      use: true,
      detail: { program: program.slice(0, 200), argc: argv.length - 1 },
      check: (g) => {
        if (g.commands !== null && !g.commands.includes(program)) throw new VaultError('usage', `program ${program.slice(0, 200)} is not allowed by grant ${g.name} (allowed: ${g.commands.join(', ')})`);
      },
    });
    const values = r.secrets.map((s) => s.value!);
    try {
      const injected = new Map<string, string>();
      for (const s of r.secrets) {
        if (injected.has(s.name)) return refusal(`two granted secrets are named ${s.name}; pick one with secrets: ["NS/${s.name}"]`);
        const value = s.value!.toString('utf8');
        if (value.includes('\0') || !Buffer.from(value, 'utf8').equals(s.value!)) return refusal(`secret ${formatRef(s)} cannot be an environment variable (NUL byte or not UTF-8)`);
        injected.set(s.name, value);
      }
      const mask = r.secrets.filter((s) => !s.notSecret).map((s) => Buffer.from(s.value!));
      const { env } = childEnvironment(this.o.env, injected);
      try {
        const run = await runCaptured({ file: program, args: argv.slice(1), env, ...(cwd !== undefined ? { cwd } : {}), ...(stdin !== undefined ? { stdin } : {}), timeoutMs: (typeof t === 'number' ? t : DEFAULT_TIMEOUT_S) * 1000, mask });
        const notes: string[] = [];
        if (run.timedOut) notes.push(`killed after ${typeof t === 'number' ? t : DEFAULT_TIMEOUT_S}s (timeout_s)`);
        if (run.stdoutCut) notes.push(`stdout cut at ${OUTPUT_CAP} bytes`);
        if (run.stderrCut) notes.push(`stderr cut at ${OUTPUT_CAP} bytes`);
        return text({
          exit_code: run.exitCode,
          signal: run.signal,
          timed_out: run.timedOut,
          stdout: run.stdout,
          stderr: run.stderr,
          injected: r.secrets.map((s) => s.name),
          ...(notes.length > 0 ? { note: notes.join('; ') } : {}),
        });
      } catch (e) {
        return refusal((e as Error).message);
      } finally {
        wipe(...mask);
      }
    } finally {
      wipe(...values);
    }
  }

  private async httpRequest(args: Args): Promise<ToolResult> {
    onlyKeys(args, ['method', 'url', 'headers', 'body', 'reason']);
    const method = str(args, 'method', true, 10)!.toUpperCase();
    if (!(METHODS as readonly string[]).includes(method)) throw new BadArgs(`argument method must be one of ${METHODS.join(', ')}`);
    const urlText = str(args, 'url', true, 8192)!;
    const reason = str(args, 'reason', true)!;
    const rawHeaders = args.headers;
    const headers: Record<string, string> = {};
    if (rawHeaders !== undefined && rawHeaders !== null) {
      if (typeof rawHeaders !== 'object' || Array.isArray(rawHeaders)) throw new BadArgs('argument headers must be an object of strings');
      for (const [k, v] of Object.entries(rawHeaders as Args)) {
        if (typeof v !== 'string') throw new BadArgs(`header ${k.slice(0, 100)} must be a string`);
        headers[k] = v;
      }
    }
    const body = args.body === undefined || args.body === null ? undefined : str(args, 'body', false, Number.MAX_SAFE_INTEGER);
    if (body !== undefined && Buffer.byteLength(body, 'utf8') > MAX_BODY) throw new BadArgs(`argument body is larger than ${MAX_BODY} bytes`);
    let url: URL;
    try {
      url = new URL(urlText);
    } catch {
      throw new BadArgs('argument url is not a valid absolute URL (a placeholder cannot stand in the host)');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new BadArgs('argument url must be http or https');
    if (url.username !== '' || url.password !== '') throw new BadArgs('argument url must not hold credentials; use a {{ vault://NAME }} placeholder in a header');
    const spec: HttpSpec = { method, url: urlText, headers, ...(body !== undefined ? { body } : {}) };
    const names = placeholderNames(spec);
    const r = this.authorize({
      tool: 'http_request',
      reason,
      names,
      use: names.length > 0,
      detail: { method, host: url.host },
      check: (g) => {
        if (g.hosts.length === 0) throw new VaultError('usage', `grant ${g.name} allows no HTTP requests (it has no --hosts)`);
        if (!hostAllowed(url, g.hosts)) throw new VaultError('usage', `host ${url.host} is not allowed by grant ${g.name} (allowed: ${g.hosts.join(', ')})`);
      },
    });
    const values = new Map<string, string>();
    const secretValues = r.secrets.map((s) => s.value).filter((v): v is Buffer => v !== null);
    const mask: Buffer[] = [];
    try {
      for (const n of names) values.set(n, r.byName.get(n)!.value!.toString('utf8'));
      for (const s of r.secrets) if (!s.notSecret && s.value) mask.push(Buffer.from(s.value), Buffer.from(encodeURIComponent(s.value.toString('utf8'))));
      const filled = fill(spec, values);
      if (new URL(filled.url).host !== url.host) return refusal('the filled URL names another host');
      try {
        return text(await send(filled, mask));
      } catch (e) {
        return refusal((e as Error).message);
      }
    } finally {
      wipe(...secretValues, ...mask);
    }
  }

  private requestSecret(args: Args): ToolResult {
    onlyKeys(args, ['name', 'description', 'reason']);
    const name = str(args, 'name', true, 200)!;
    const description = str(args, 'description', true, 1000)!;
    const reason = str(args, 'reason', true)!;
    let ref;
    try {
      ref = parseSecretRef(name, this.o.ns);
    } catch (e) {
      throw new BadArgs(refusalText(e));
    }
    this.authorize({ tool: 'request_secret', reason, names: [], use: false, detail: { requested: formatRef(ref), description: description.slice(0, 300) } });
    const command = `vault put ${formatRef(ref)}`;
    return text({
      command,
      message: `Ask the human to run \`${command}\` and type the value at its prompt (never in this chat). If grant ${this.o.grant.name} does not cover it, they must also grant it.`,
    });
  }

  private getSecret(args: Args): ToolResult {
    onlyKeys(args, ['name', 'reason']);
    const name = str(args, 'name', true, 200)!;
    const reason = str(args, 'reason', true)!;
    const r = this.authorize({
      tool: 'get_secret',
      reason,
      names: [name],
      use: true,
      check: (g) => {
        if (!g.reveal) throw new VaultError('usage', `grant ${g.name} does not allow reading values (no --reveal)`);
      },
    });
    const s = r.secrets[0]!;
    try {
      const utf8 = s.value!.toString('utf8');
      const valid = Buffer.from(utf8, 'utf8').equals(s.value!);
      return text({ name: formatRef(s), version: s.version, encoding: valid ? 'utf8' : 'base64', value: valid ? utf8 : s.value!.toString('base64') });
    } finally {
      wipe(s.value);
    }
  }
}

/**
 * Serves the tools on the given streams until the client closes stdin. The SDK is imported
 * here, at run time, so no other command loads it.
 */
export async function serve(o: McpOptions): Promise<void> {
  const { Server } = await import('@modelcontextprotocol/sdk/server/index.js');
  const { StdioServerTransport } = await import('@modelcontextprotocol/sdk/server/stdio.js');
  const { CallToolRequestSchema, ListToolsRequestSchema, McpError, ErrorCode } = await import('@modelcontextprotocol/sdk/types.js');
  const tools = new GrantTools(o);
  const server = new Server({ name: 'vault', version: o.version }, { capabilities: { tools: {} }, instructions: 'Secrets from the vault: use them with run_command and http_request; you never see their values.' });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: tools.list() }));
  server.setRequestHandler(CallToolRequestSchema, async (request) => {
    const name = request.params.name;
    if (!tools.names.includes(name)) {
      recordRefusal(o.vault, o.grant.name, name, null, `unknown tool ${name.slice(0, 100)}`);
      throw new McpError(ErrorCode.InvalidParams, `unknown tool ${name.slice(0, 100)}`);
    }
    return tools.call(name, request.params.arguments);
  });
  const transport = new StdioServerTransport(o.stdin, o.stdout);
  const done = new Promise<void>((resolve) => {
    o.stdin.once('end', resolve);
    o.stdin.once('close', resolve);
    transport.onclose = () => resolve();
  });
  await server.connect(transport);
  await done;
  killRunning();
  await server.close().catch(() => undefined);
}
