import { spawnSync } from 'node:child_process';
import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** One request as it arrived at a test server. */
export interface Arrived {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface Recorder {
  port: number;
  arrived: Arrived[];
  close: () => Promise<void>;
}

/**
 * A real server on 127.0.0.1 that records exactly what arrived. Routes: /redirect answers 302
 * to `location` query; /big answers 200 KiB; anything else echoes the request (headers and
 * body) back, in the body and in an x-echo header (and the Authorization credential in base64
 * and hex, in x-echo-b64 and x-echo-hex).
 */
function handler(arrived: Arrived[]) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const a: Arrived = { method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers }, body: Buffer.concat(chunks).toString('utf8') };
      arrived.push(a);
      const url = new URL(a.url, 'http://x');
      if (url.pathname === '/redirect') {
        res.writeHead(302, { location: url.searchParams.get('to') ?? '/' });
        res.end();
      } else if (url.pathname === '/big') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('x'.repeat(200 * 1024));
      } else {
        const auth = Buffer.from(String(req.headers.authorization ?? '').replace(/^\S+ /, ''), 'utf8');
        // the credential back in other encodings too, for the masking tests
        res.writeHead(200, { 'content-type': 'application/json', 'x-echo': String(req.headers.authorization ?? ''), 'x-echo-b64': auth.toString('base64'), 'x-echo-hex': auth.toString('hex') });
        res.end(JSON.stringify(a));
      }
    });
  };
}

async function listen(server: Server, arrived: Arrived[]): Promise<Recorder> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    arrived,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

export function httpRecorder(): Promise<Recorder> {
  const arrived: Arrived[] = [];
  return listen(createHttp(handler(arrived)), arrived);
}

/** A test CA and a server certificate for 127.0.0.1, made with the openssl CLI. */
export function testCa(dir: string): { caFile: string; key: Buffer; cert: Buffer } {
  const run = (args: string[]): void => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=vault test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  run(['req', ...ec, '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=127.0.0.1']);
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  run(['x509', '-req', '-in', 'srv.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.crt', '-days', '2', '-extfile', 'ext.cnf']);
  return { caFile: join(dir, 'ca.crt'), key: readFileSync(join(dir, 'srv.key')), cert: readFileSync(join(dir, 'srv.crt')) };
}

export function httpsRecorder(tls: { key: Buffer; cert: Buffer }): Promise<Recorder> {
  const arrived: Arrived[] = [];
  return listen(createHttps({ key: tls.key, cert: tls.cert }, handler(arrived)) as unknown as Server, arrived);
}
