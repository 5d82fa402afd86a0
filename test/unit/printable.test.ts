import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsonText, printable } from '../../src/cli/output.js';

test('printable escapes every C0 control, DEL and every C1 control, and nothing else', () => {
  for (let code = 0; code < 0x200; code++) {
    const c = String.fromCharCode(code);
    const shown = printable(`a${c}b`);
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) {
      const expected = c === '\t' ? '\\t' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : code <= 0x7f ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
      assert.equal(shown, `a${expected}b`, `U+${code.toString(16)}`);
    } else {
      assert.equal(shown, `a${c}b`, `U+${code.toString(16)}`);
    }
  }
  assert.equal(printable('\u001b[2J\u009b31m'), '\\x1b[2J\\u009b31m');
  assert.equal(printable('ünïcödé \\ "q"'), 'ünïcödé \\ "q"');
});

test('jsonText is JSON.stringify with DEL and C1 escaped; it parses back to the same value', () => {
  const value = { a: 'x\u007f\u0080\u009b\u009f\u00a0\u001b', b: [1, null, 'é'] };
  const text = jsonText(value);
  assert.equal(text, '{"a":"x\\u007f\\u0080\\u009b\\u009f\u00a0\\u001b","b":[1,null,"é"]}');
  assert.deepEqual(JSON.parse(text), value);
});
