import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsonText, printable, writeJsonArray } from '../../src/cli/output.js';

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

test('writeJsonArray writes jsonText of the mapped array and a newline, in pieces that join to the same bytes', () => {
  const items = ['a', 'b\u009b', 'c"\n', 'd\u007f', 'e', 'f'];
  const toJson = (x: string): unknown => ({ x, n: x.length, u: undefined, f: x === 'e' ? () => 1 : null });
  const whole = `${jsonText(items.map(toJson))}\n`;
  assert.equal(
    whole,
    '[{"x":"a","n":1,"f":null},{"x":"b\\u009b","n":2,"f":null},{"x":"c\\"\\n","n":3,"f":null},{"x":"d\\u007f","n":2,"f":null},{"x":"e","n":1},{"x":"f","n":1,"f":null}]\n',
  );
  for (const chunk of [1, 2, 4, 5, 6, 7, 256]) {
    const pieces: string[] = [];
    writeJsonArray((t) => pieces.push(t), items, toJson, chunk);
    assert.equal(pieces.join(''), whole, `chunk ${chunk}`);
    assert.equal(pieces.length, 2 * Math.ceil(items.length / chunk), `chunk ${chunk}`);
  }
  // Items that JSON.stringify turns into null inside an array, at a piece's edge too.
  const odd = [undefined, () => 1, 'x'];
  for (const chunk of [1, 2, 3]) {
    const pieces: string[] = [];
    writeJsonArray((t) => pieces.push(t), odd, (v) => v, chunk);
    assert.equal(pieces.join(''), '[null,null,"x"]\n', `chunk ${chunk}`);
  }
  const empty: string[] = [];
  writeJsonArray((t) => empty.push(t), [], (v) => v);
  assert.deepEqual(empty, ['[]\n']);
});
