import { Masker } from '../exec/mask.js';
import { OUTPUT_CAP } from './run.js';

/** `{{ vault://NAME }}` or `{{vault://NS/NAME}}`: a placeholder http_request fills. */
const PLACEHOLDER = /\{\{\s*vault:\/\/([^\s{}]+)\s*\}\}/g;
export const MAX_BODY = 1024 * 1024;
export const HTTP_TIMEOUT_MS = 30_000;
export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

export interface HttpSpec {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
}

/** The names the placeholders of a request use, in order of first use. */
export function placeholderNames(spec: HttpSpec): string[] {
  const names: string[] = [];
  const scan = (text: string): void => {
    for (const m of text.matchAll(PLACEHOLDER)) if (!names.includes(m[1]!)) names.push(m[1]!);
  };
  scan(spec.url);
  for (const v of Object.values(spec.headers)) scan(v);
  if (spec.body !== undefined) scan(spec.body);
  return names;
}

/** Whether `url`'s host is one of `hosts` (exact: host name, or host:port). */
export function hostAllowed(url: URL, hosts: readonly string[]): boolean {
  const name = url.hostname.toLowerCase();
  const withPort = url.host.toLowerCase();
  return hosts.some((h) => h === name || h === withPort);
}

/**
 * The request with its placeholders filled: in the URL a value goes in percent-encoded (so
 * it can never change the host), in headers and the body as it is. `values` maps each name as
 * written in the placeholder to its text.
 */
export function fill(spec: HttpSpec, values: Map<string, string>): HttpSpec {
  const sub = (text: string, encode: boolean): string => text.replace(PLACEHOLDER, (_m, name: string) => (encode ? encodeURIComponent(values.get(name)!) : values.get(name)!));
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(spec.headers)) headers[k] = sub(v, false);
  return { method: spec.method, url: sub(spec.url, true), headers, ...(spec.body !== undefined ? { body: sub(spec.body, false) } : {}) };
}

export interface HttpResult {
  status: number;
  headers: Record<string, string>;
  body: string;
  truncated: boolean;
  note?: string;
}

function maskText(text: string, mask: Buffer[]): string {
  const m = new Masker(mask);
  return Buffer.concat([m.write(Buffer.from(text, 'utf8')), m.end()]).toString('utf8');
}

/**
 * Sends the (filled) request with Node's fetch: TLS verified as always, redirects never
 * followed (a 3xx comes back as it is, with a note: following it could carry the secrets to
 * another host). The response body is read up to OUTPUT_CAP; headers and body are masked.
 */
export async function send(spec: HttpSpec, mask: Buffer[]): Promise<HttpResult> {
  let res: Response;
  try {
    res = await fetch(spec.url, {
      method: spec.method,
      headers: spec.headers,
      ...(spec.body !== undefined && spec.method !== 'GET' && spec.method !== 'HEAD' ? { body: spec.body } : {}),
      redirect: 'manual',
      signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
    });
  } catch (e) {
    const err = e as Error & { cause?: { code?: string; message?: string } };
    const why = err.name === 'TimeoutError' ? `no response within ${HTTP_TIMEOUT_MS / 1000}s` : (err.cause?.code ?? err.cause?.message ?? err.message);
    throw new Error(maskText(`request failed: ${why}`, mask).split('\n')[0]!);
  }
  const masker = new Masker(mask);
  const parts: Buffer[] = [];
  let size = 0;
  let truncated = false;
  if (res.body) {
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const out = masker.write(Buffer.from(value));
      const room = OUTPUT_CAP - size;
      if (out.length > room) {
        parts.push(out.subarray(0, room));
        size = OUTPUT_CAP;
        truncated = true;
        await reader.cancel().catch(() => undefined);
        break;
      }
      parts.push(out);
      size += out.length;
    }
  }
  if (!truncated) {
    const tail = masker.end();
    parts.push(tail.subarray(0, Math.max(0, OUTPUT_CAP - size)));
    if (tail.length > OUTPUT_CAP - size) truncated = true;
  }
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => (headers[k] = maskText(v, mask)));
  const result: HttpResult = { status: res.status, headers, body: Buffer.concat(parts).toString('utf8'), truncated };
  const notes: string[] = [];
  if (truncated) notes.push(`body cut at ${OUTPUT_CAP} bytes`);
  if (res.status >= 300 && res.status < 400 && headers.location !== undefined) notes.push('redirect not followed: make a new request to the location if its host is granted');
  if (notes.length > 0) result.note = notes.join('; ');
  return result;
}
