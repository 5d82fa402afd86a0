import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spec, withMcp } from '../helpers/mcp.js';
import { httpRecorder } from '../helpers/servers.js';

/**
 * The encoded forms of a value (base64, base64url, hex in both cases, URL-encoded) must not
 * reach the agent either. These assertions depend on the masking that survives encodings
 * (src/exec/mask.ts, another change behind the same API): they fail until that is merged.
 */

const VALUE = 'sk/live+9f8e=7d6c 5b4a?&~';

function forms(value: string): Record<string, string> {
  const b = Buffer.from(value, 'utf8');
  return {
    raw: value,
    base64: b.toString('base64'),
    base64url: b.toString('base64url'),
    hex: b.toString('hex'),
    HEX: b.toString('hex').toUpperCase(),
    url: encodeURIComponent(value),
  };
}

const PRINT_FORMS = `const v=process.env.API_KEY, b=Buffer.from(v);
console.log(v); console.log(b.toString('base64')); console.log(b.toString('base64url'));
console.log(b.toString('hex')); console.log(b.toString('hex').toUpperCase()); console.log(encodeURIComponent(v));
process.stderr.write(b.toString('base64'));`;

test('run_command: no encoded form of the value reaches the result', async () => {
  await withMcp([spec('agent')], 'agent', async (m) => {
    const r = await m.call('run_command', { command: [process.execPath, '-e', PRINT_FORMS], reason: 'encodings' });
    assert.equal(r.isError, false, r.text);
    assert.equal(r.json.stdout.split('\n').length, 7, 'the child printed its six lines');
    for (const [name, form] of Object.entries(forms(VALUE))) {
      assert.ok(!r.json.stdout.includes(form) && !r.json.stderr.includes(form), `${name} form masked`);
    }
  }, { values: { API_KEY: VALUE } });
});

test('http_request: no encoded form of the value comes back in the response', async () => {
  const s = await httpRecorder();
  try {
    await withMcp([spec('agent', { hosts: ['127.0.0.1'] })], 'agent', async (m) => {
      const r = await m.call('http_request', { method: 'POST', url: `http://127.0.0.1:${s.port}/x?k={{ vault://API_KEY }}`, headers: { Authorization: 'Basic {{ vault://API_KEY }}' }, body: '{{ vault://API_KEY }}', reason: 'encodings' });
      assert.equal(r.isError, false, r.text);
      assert.equal(s.arrived[0]!.headers.authorization, `Basic ${VALUE}`);
      const echoed = `${r.json.body}${JSON.stringify(r.json.headers)}`;
      for (const [name, form] of Object.entries(forms(VALUE))) assert.ok(!echoed.includes(form), `${name} form masked`);
    }, { values: { API_KEY: VALUE } });
  } finally {
    await s.close();
  }
});
