import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Masker, createMaskStream, maskSecrets } from '../../src/exec/mask.js';

test('maskSecrets: exact outputs', () => {
  assert.equal(maskSecrets('token=hunter22 ok', ['hunter22']), 'token=***** ok');
  assert.equal(maskSecrets('a hunter22 b hunter22', ['hunter22']), 'a ***** b *****');
  assert.equal(maskSecrets('no secrets here', ['hunter22']), 'no secrets here');
  assert.equal(maskSecrets('abc abc', ['abc']), 'abc abc', 'values shorter than 4 are left alone');
  assert.equal(maskSecrets('abcd', ['abcd', 'ab', '']), '*****');
  assert.equal(maskSecrets('same', []), 'same');
  assert.equal(maskSecrets('', ['abcd']), '');
  assert.equal(maskSecrets('pässwörd!', ['sswö']), 'pä*****rd!');
});

test('maskSecrets: the longest match at a position wins', () => {
  assert.equal(maskSecrets('xabcdefy', ['abcd', 'abcdef']), 'x*****y');
  assert.equal(maskSecrets('xabcdefy', ['abcdef', 'abcd']), 'x*****y');
  assert.equal(maskSecrets('xabcdy', ['abcd', 'abcdef']), 'x*****y');
});

test('maskSecrets: overlapping occurrences never show a part of a secret', () => {
  assert.equal(maskSecrets('abcdefgh', ['abcd', 'cdefgh']), '*****');
  assert.equal(maskSecrets('aaaaaa', ['aaaa']), '*****');
  assert.equal(maskSecrets('1abcde2', ['abcd', 'bcde']), '1*****2');
  assert.equal(maskSecrets('wxyzabcdwxyz', ['wxyzabcd', 'abcdwxyz']), '*****');
});

test('maskSecrets: a value repeated back to back gives one mask per occurrence', () => {
  assert.equal(maskSecrets('abcdabcd', ['abcd']), '**********');
  assert.equal(maskSecrets('[abcdabcdabcd]', ['abcd']), '[***************]');
});

// ---------------------------------------------------------------------------------------------

function feed(values: Buffer[], chunks: Buffer[]): Buffer {
  const m = new Masker(values);
  const out = chunks.map((c) => m.write(c));
  out.push(m.end());
  return Buffer.concat(out);
}

function b(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

/** Every split of `input` into two and into three chunks must give exactly `expected`. */
function everySplit(values: string[], input: string, expected: string): void {
  const data = b(input);
  const vals = values.map(b);
  for (let i = 0; i <= data.length; i++) {
    assert.equal(feed(vals, [data.subarray(0, i), data.subarray(i)]).toString('latin1'), expected, `split at ${i}`);
    for (let j = i; j <= data.length; j++) {
      const got = feed(vals, [data.subarray(0, i), data.subarray(i, j), data.subarray(j)]);
      assert.equal(got.toString('latin1'), expected, `split at ${i},${j}`);
    }
  }
  const bytewise = feed(vals, [...data].map((x) => Buffer.from([x])));
  assert.equal(bytewise.toString('latin1'), expected, 'byte by byte');
}

test('stream: a value split at every byte boundary over two and three chunks', () => {
  everySplit(['s3cr3t-token'], 'before s3cr3t-token middle s3cr3t-token after', 'before ***** middle ***** after');
  everySplit(['s3cr3t-token'], 's3cr3t-token', '*****');
});

test('stream: overlapping values', () => {
  everySplit(['abcd', 'abcdef'], 'xabcdefy xabcdy', 'x*****y x*****y');
  everySplit(['abcd', 'cdefgh'], '-abcdefgh-abcd-cdefgh-', '-*****-*****-*****-');
  everySplit(['aaaa'], 'baaaaaab', 'b*****b');
  everySplit(['xabcdy', 'abcd'], 'xabcdz', 'x*****z');
});

test('stream: a value repeated back to back', () => {
  everySplit(['abcd'], 'abcdabcdabcd', '***************');
  everySplit(['abcd'], '<abcdabcd>', '<**********>');
});

test('stream: a prefix that turns out not to be a value passes unchanged and in order', () => {
  everySplit(['secret'], 'secrex secre secresecret secrets', 'secrex secre secre***** *****s');
  everySplit(['abcabd'], 'abcabcabd', 'abc*****');
});

test('stream: holds back only a possible start of a value, and emits the rest at once', () => {
  const m = new Masker([b('secret'), b('secrecy')]);
  assert.equal(m.write(b('hello secr')).toString('latin1'), 'hello ');
  assert.equal(m.write(b('e')).toString('latin1'), '');
  assert.equal(m.write(b('t')).toString('latin1'), '*****', 'a complete value is masked without waiting');
  assert.equal(m.write(b(' and secre')).toString('latin1'), ' and ');
  assert.equal(m.write(b('x')).toString('latin1'), 'secrex');
  assert.equal(m.write(b(' tail sec')).toString('latin1'), ' tail ');
  assert.equal(m.end().toString('latin1'), 'sec');
});

test('stream: a value that is a prefix of a longer one is masked before the longer one is decided', () => {
  const m = new Masker([b('abcd'), b('abcdefgh')]);
  assert.equal(m.write(b('xabcd')).toString('latin1'), 'x*****');
  assert.equal(m.write(b('efg')).toString('latin1'), '');
  assert.equal(m.write(b('h!')).toString('latin1'), '!');
  assert.equal(m.end().toString('latin1'), '');
});

test('stream: binary data and binary values', () => {
  const v1 = Buffer.from([0x00, 0xff, 0x00, 0xff, 0x10]);
  const v2 = Buffer.from([0xde, 0xad, 0xbe, 0xef]);
  const data = Buffer.concat([Buffer.from([0x00, 0xff, 0x00]), v1, Buffer.from([0xde, 0xad, 0xbe]), v2, v2, Buffer.from([0x0a, 0x00])]);
  const expected = Buffer.concat([Buffer.from([0x00, 0xff, 0x00]), b('*****'), Buffer.from([0xde, 0xad, 0xbe]), b('**********'), Buffer.from([0x0a, 0x00])]);
  for (let i = 0; i <= data.length; i++) {
    assert.deepStrictEqual(feed([v1, v2], [data.subarray(0, i), data.subarray(i)]), expected, `split at ${i}`);
  }
});

test('stream: agrees with maskSecrets on seeded random input and random chunking', () => {
  let seed = 7;
  const next = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return Math.floor((seed / 4294967296) * n);
  };
  const word = (n: number): string => Array.from({ length: n }, () => 'abc'[next(3)]).join('');
  for (let t = 0; t < 2000; t++) {
    const values = Array.from({ length: next(4) }, () => word(2 + next(6)));
    const text = word(next(40));
    const chunks: Buffer[] = [];
    for (let i = 0; i < text.length; ) {
      const n = 1 + next(6);
      chunks.push(b(text.slice(i, i + n)));
      i += n;
    }
    assert.equal(feed(values.map(b), chunks).toString('latin1'), maskSecrets(text, values), JSON.stringify({ text, values }));
  }
});

test('createMaskStream: output of a chunk is pushed before the next chunk arrives', async () => {
  const stream = createMaskStream([b('topsecret')]);
  const got: string[] = [];
  stream.on('data', (c: Buffer) => got.push(c.toString('latin1')));
  stream.write(b('line 1 topsecret\nline 2 tops'));
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepStrictEqual(got, ['line 1 *****\nline 2 ']);
  stream.end(b('ecret\n'));
  await new Promise((resolve) => stream.on('end', resolve));
  assert.deepStrictEqual(got, ['line 1 *****\nline 2 ', '*****\n']);
});

test('createMaskStream: 5 MB of output with secrets in it comes out exactly masked', async () => {
  const secrets = [b('AKIA#EXAMPLE#KEY'), b('#pw#'), b('-----BEGIN#PRIVATE#KEY-----\nMIIE#')];
  // Filler never contains '#', so the only occurrences are the ones planted.
  let seed = 1;
  const input: Buffer[] = [];
  const expected: Buffer[] = [];
  let size = 0;
  let planted = 0;
  while (size < 5 * 1024 * 1024) {
    const filler = Buffer.alloc(200 + (seed % 3000));
    for (let i = 0; i < filler.length; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      const x = seed >>> 24;
      filler[i] = x === 0x23 ? 0x24 : x;
    }
    const secret = secrets[planted % secrets.length]!;
    input.push(filler, secret);
    expected.push(filler, b('*****'));
    size += filler.length + secret.length;
    planted++;
  }
  const data = Buffer.concat(input);
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.length; i += 65536) chunks.push(data.subarray(i, i + 65536));
  const received: Buffer[] = [];
  await pipeline(
    Readable.from(chunks),
    createMaskStream(secrets),
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        received.push(chunk);
        cb();
      },
    }),
  );
  const out = Buffer.concat(received);
  assert.ok(planted > 1000);
  assert.equal(out.length, Buffer.concat(expected).length);
  assert.ok(out.equals(Buffer.concat(expected)), 'masked output differs');
});
