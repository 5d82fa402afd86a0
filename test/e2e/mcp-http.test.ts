import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tempDir } from '../helpers/cli.js';
import { auditOf, OTHER, spec, VALUE, withMcp } from '../helpers/mcp.js';
import { httpRecorder, httpsRecorder, testCa, type Recorder } from '../helpers/servers.js';

/**
 * http_request against real servers on 127.0.0.1 that record exactly what arrived: secrets
 * go only to granted hosts, in the places the agent put placeholders; what comes back is
 * masked; redirects are not followed; HTTPS is verified (a test CA made with openssl, given
 * through NODE_EXTRA_CA_CERTS).
 */

async function withServer(fn: (s: Recorder) => Promise<void>): Promise<void> {
  const s = await httpRecorder();
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

test('placeholders are filled for a granted host: the server gets the value, the agent gets a masked echo', async () => {
  await withServer(async (s) => {
    await withMcp([spec('agent', { hosts: ['127.0.0.1'] })], 'agent', async (m, v) => {
      const r = await m.call('http_request', {
        method: 'POST',
        url: `http://127.0.0.1:${s.port}/api?key={{ vault://API_KEY }}&port={{vault://PORT}}`,
        headers: { Authorization: 'Bearer {{ vault://API_KEY }}', 'content-type': 'text/plain' },
        body: 'token={{ vault://default/API_KEY }}',
        reason: 'call the API',
      });
      assert.equal(r.isError, false, r.text);
      assert.equal(s.arrived.length, 1);
      const a = s.arrived[0]!;
      assert.equal(a.method, 'POST');
      assert.equal(a.url, `/api?key=${encodeURIComponent(VALUE)}&port=8080`);
      assert.equal(a.headers.authorization, `Bearer ${VALUE}`);
      assert.equal(a.body, `token=${VALUE}`);
      assert.equal(r.json.status, 200);
      assert.equal(r.json.headers['x-echo'], 'Bearer *****');
      const echoed = JSON.parse(r.json.body);
      assert.equal(echoed.headers.authorization, 'Bearer *****');
      assert.equal(echoed.body, 'token=*****');
      assert.equal(echoed.url, '/api?key=*****&port=8080');
      assert.ok(!r.text.includes(VALUE));
      const entries = (await auditOf(v, 'agent')).filter((e) => e.op === 'mcp');
      assert.deepEqual(entries.map((e) => e.detail), [
        { grant: 'agent', tool: 'http_request', method: 'POST', host: `127.0.0.1:${s.port}`, reason: 'call the API', secrets: ['default/API_KEY', 'default/PORT'] },
      ]);
    });
  });
});

test('an ungranted host (localhost is not 127.0.0.1), an ungranted secret, or a grant without --hosts: refused, nothing sent', async () => {
  await withServer(async (s) => {
    await withMcp([spec('agent', { hosts: ['127.0.0.1'] }), spec('nohttp')], 'agent', async (m, v) => {
      const r1 = await m.call('http_request', { method: 'GET', url: `http://localhost:${s.port}/`, headers: { Authorization: '{{ vault://API_KEY }}' }, reason: 'r' });
      assert.deepEqual([r1.isError, r1.text], [true, `refused: host localhost:${s.port} is not allowed by grant agent (allowed: 127.0.0.1)`]);
      const r2 = await m.call('http_request', { method: 'GET', url: `http://127.0.0.1:${s.port}/`, headers: { 'x-db': '{{ vault://DB_PASSWORD }}' }, reason: 'r' });
      assert.deepEqual([r2.isError, r2.text], [true, 'refused: secret DB_PASSWORD is not granted to agent']);
      assert.deepEqual(s.arrived, []);
      const entries = (await auditOf(v, 'agent')).filter((e) => e.op === 'mcp');
      assert.deepEqual(entries.map((e) => e.outcome), ['denied', 'denied']);
      assert.ok(!JSON.stringify(entries).includes(OTHER));
    });
    await withMcp([spec('nohttp')], 'nohttp', async (m) => {
      const r = await m.call('http_request', { method: 'GET', url: `http://127.0.0.1:${s.port}/`, reason: 'r' });
      assert.deepEqual([r.isError, r.text], [true, 'refused: grant nohttp allows no HTTP requests (it has no --hosts)']);
      assert.deepEqual(s.arrived, []);
    });
  });
});

test('a redirect to another host is not followed: the secret reaches only the granted host', async () => {
  await withServer(async (s) => {
    await withMcp([spec('agent', { hosts: ['127.0.0.1'] })], 'agent', async (m) => {
      const to = `http://localhost:${s.port}/stolen`;
      const r = await m.call('http_request', { method: 'GET', url: `http://127.0.0.1:${s.port}/redirect?to=${encodeURIComponent(to)}`, headers: { Authorization: 'Bearer {{ vault://API_KEY }}' }, reason: 'r' });
      assert.equal(r.isError, false, r.text);
      assert.equal(r.json.status, 302);
      assert.equal(r.json.headers.location, to);
      assert.equal(r.json.note, 'redirect not followed: make a new request to the location if its host is granted');
      assert.deepEqual(s.arrived.map((a) => a.url), [`/redirect?to=${encodeURIComponent(to)}`]);
    });
  });
});

test('a large response is cut at 64 KiB with a note', async () => {
  await withServer(async (s) => {
    await withMcp([spec('agent', { hosts: ['127.0.0.1'] })], 'agent', async (m) => {
      const r = await m.call('http_request', { method: 'GET', url: `http://127.0.0.1:${s.port}/big`, reason: 'r' });
      assert.equal(r.isError, false, r.text);
      assert.equal(r.json.body, 'x'.repeat(65536));
      assert.equal(r.json.truncated, true);
      assert.equal(r.json.note, 'body cut at 65536 bytes');
    });
  });
});

test('HTTPS is verified: with the test CA in NODE_EXTRA_CA_CERTS the value arrives; without it the request fails and nothing arrives', async () => {
  const t = tempDir();
  try {
    const ca = testCa(t.dir);
    const s = await httpsRecorder(ca);
    try {
      const args = { method: 'GET', url: `https://127.0.0.1:${s.port}/tls`, headers: { Authorization: 'Bearer {{ vault://API_KEY }}' }, reason: 'r' };
      await withMcp([spec('agent', { hosts: ['127.0.0.1'] })], 'agent', async (m) => {
        const r = await m.call('http_request', args);
        assert.equal(r.isError, false, r.text);
        assert.equal(r.json.status, 200);
        assert.equal(s.arrived.length, 1);
        assert.equal(s.arrived[0]!.headers.authorization, `Bearer ${VALUE}`);
        assert.ok(!r.text.includes(VALUE));
      }, { env: { NODE_EXTRA_CA_CERTS: ca.caFile } });
      await withMcp([spec('agent', { hosts: ['127.0.0.1'] })], 'agent', async (m) => {
        const r = await m.call('http_request', args);
        assert.equal(r.isError, true);
        assert.match(r.text, /^refused: request failed: [A-Z_]+$/);
        assert.equal(s.arrived.length, 1, 'nothing more arrived');
      });
    } finally {
      await s.close();
    }
  } finally {
    t.cleanup();
  }
});
