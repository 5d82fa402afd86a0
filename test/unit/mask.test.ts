import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MASK, Masker, Matcher, MaskPatterns, SplitMatcher, encodedForms, maskSecrets, scan } from '../../src/exec/mask.js';
import { rng } from '../helpers/random.js';

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

test('Masker: the output of a chunk is given at once, but for the suffix that can still become a value', () => {
  const m = new Masker([b('topsecret')]);
  assert.equal(Buffer.concat(m.writeParts(b('line 1 topsecret\nline 2 tops'))).toString('latin1'), 'line 1 *****\nline 2 ');
  assert.equal(Buffer.concat(m.writeParts(b('ecret\n'))).toString('latin1'), '*****\n');
  assert.equal(m.end().length, 0);
});

test('Masker: 5 MB of output with secrets in it, in 64 KiB chunks, comes out exactly masked', () => {
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
  const m = new Masker(secrets);
  const received: Uint8Array[] = [];
  for (let i = 0; i < data.length; i += 65536) received.push(...m.writeParts(data.subarray(i, i + 65536)));
  received.push(m.end());
  const out = Buffer.concat(received);
  assert.ok(planted > 1000);
  assert.equal(out.length, Buffer.concat(expected).length);
  assert.ok(out.equals(Buffer.concat(expected)), 'masked output differs');
});

// ---- encoded forms ------------------------------------------------------------------------

function randomBytes(next: (n: number) => number, n: number): Buffer {
  return Buffer.from(Array.from({ length: n }, () => next(256)));
}

/**
 * The reference: every occurrence of every pattern found by brute force (each position,
 * each pattern), the longest at each start, overlapping ones merged into one mask.
 */
function naiveMask(data: Buffer, patterns: string[]): Buffer {
  const text = data.toString('latin1');
  const byFirst = new Map<string, string[]>();
  for (const p of new Set(patterns)) {
    const key = p.slice(0, 4);
    byFirst.set(key, [...(byFirst.get(key) ?? []), p]);
  }
  const longest = new Int32Array(text.length);
  for (let i = 0; i + 4 <= text.length; i++) {
    for (const p of byFirst.get(text.slice(i, i + 4)) ?? []) if (text.startsWith(p, i) && p.length > longest[i]!) longest[i] = p.length;
  }
  let out = '';
  let i = 0;
  while (i < text.length) {
    if (longest[i] === 0) {
      out += text[i];
      i++;
      continue;
    }
    let end = i + longest[i]!;
    for (let j = i + 1; j < end; j++) end = Math.max(end, j + longest[j]!);
    out += MASK;
    i = end;
  }
  return Buffer.from(out, 'latin1');
}

function patternsOf(values: Buffer[]): string[] {
  return values.filter((v) => v.length >= 4).flatMap((v) => encodedForms(v).map((f) => f.text));
}

function feedRandomly(masker: Masker, data: Buffer, next: (n: number) => number): Buffer {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; ) {
    const n = next(4) === 0 ? 1 + next(3) : 1 + next(200);
    out.push(masker.write(data.subarray(i, i + n)));
    i += n;
  }
  out.push(masker.end());
  return Buffer.concat(out);
}

test('encodedForms: the exact forms of a value', () => {
  const forms = encodedForms(Buffer.from('pa ss/w+rd'));
  const byForm = (form: string): string[] => forms.filter((f) => f.form === form).map((f) => f.text);
  assert.deepStrictEqual(byForm('raw'), ['pa ss/w+rd']);
  assert.deepStrictEqual(byForm('hex'), ['70612073732f772b7264', '70612073732F772B7264']);
  // base64("pa ss/w+rd") = cGEgc3MvdytyZA== ; at offsets 1 and 2 (zero bytes before it):
  // AHBhIHNzL3crcmQ= and AABwYSBzcy93K3Jk
  assert.deepStrictEqual(byForm('base64'), ['cGEgc3MvdytyZ', 'cGEgc3MvdytyZA', 'cGEgc3MvdytyZA==', 'BhIHNzL3crcm', 'BhIHNzL3crcmQ', 'BhIHNzL3crcmQ=', 'wYSBzcy93K3Jk']);
  assert.deepStrictEqual(byForm('base64url'), []);
  assert.deepStrictEqual(byForm('url'), ['pa%20ss%2Fw%2Brd', 'pa%20ss%2fw%2brd', 'pa+ss%2Fw%2Brd', 'pa+ss%2fw%2brd']);
  // Bytes whose base64 is all + and /: base64url is the same with - and _.
  const odd = encodedForms(Buffer.from([0xfb, 0xff, 0xbf, 0xfe]));
  const std = odd.filter((f) => f.form === 'base64').map((f) => f.text);
  // base64 at offsets 0, 1, 2: +/+//g==, APv/v/4=, AAD7/7/+
  assert.deepStrictEqual(std, ['+/+//', '+/+//g', '+/+//g==', 'v/v/', 'v/v/4', 'v/v/4=', '7/7/+']);
  assert.deepStrictEqual(odd.filter((f) => f.form === 'base64url').map((f) => f.text), ['-_-__', '-_-__g', '-_-__g==', 'v_v_', 'v_v_4', 'v_v_4=', '7_7_-']);
  assert.deepStrictEqual(encodedForms(Buffer.from('abc')), [], 'shorter than 4: nothing');
});

test('masking: each encoded form in text is masked (string and stream)', () => {
  const v = 'S3cr3t value/with+sym&bols';
  const bytes = Buffer.from(v);
  const cases = [
    v,
    bytes.toString('hex'),
    bytes.toString('hex').toUpperCase(),
    bytes.toString('base64'),
    bytes.toString('base64').replace(/=+$/, ''),
    bytes.toString('base64url'),
    encodeURIComponent(v),
    encodeURIComponent(v).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
    new URLSearchParams({ q: v }).toString().slice(2),
  ];
  for (const form of cases) {
    assert.equal(maskSecrets(`<${form}>`, [v]), '<*****>', form);
    const m = new Masker([bytes]);
    assert.equal(Buffer.concat([m.write(Buffer.from(`<${form}>`)), m.end()]).toString(), '<*****>', form);
  }
  // Basic auth: the value last in a larger base64 stream, at each alignment.
  for (const user of ['u', 'us', 'usr']) {
    const header = Buffer.from(`${user}:${v}`).toString('base64');
    const cut = Math.ceil(((user.length + 1) * 8) / 6);
    assert.equal(maskSecrets(`Basic ${header}`, [v]), `Basic ${header.slice(0, cut)}*****`, user);
  }
});

test('masking: a value inside a larger base64 stream is masked at every offset, leaving only the mixed characters', () => {
  const next = rng(11);
  for (let t = 0; t < 300; t++) {
    const value = randomBytes(next, 4 + next(40));
    const pre = randomBytes(next, next(7));
    // A first suffix byte with its top bits set, so the character mixing value and suffix
    // cannot equal the zero-filled one by chance.
    const suf = next(2) === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0xfc | next(4)]), randomBytes(next, next(6))]);
    const whole = Buffer.concat([pre, value, suf]);
    const start = Math.ceil((pre.length * 8) / 6);
    for (const [name, encoded] of [
      ['base64', whole.toString('base64')],
      ['base64 unpadded', whole.toString('base64').replace(/=+$/, '')],
      ['base64url', whole.toString('base64url')],
    ] as const) {
      const end = suf.length === 0 ? encoded.length : Math.floor(((pre.length + value.length) * 8) / 6);
      const expected = encoded.slice(0, start) + MASK + encoded.slice(end);
      const got = feedRandomly(new Masker([value]), Buffer.from(encoded, 'latin1'), next).toString('latin1');
      // A pattern may also occur by chance in the random neighbours; the reference decides.
      const reference = naiveMask(Buffer.from(encoded, 'latin1'), patternsOf([value])).toString('latin1');
      assert.equal(got, reference, `${name} ${JSON.stringify({ value: value.toString('hex'), pre: pre.toString('hex'), suf: suf.toString('hex') })}`);
      assert.equal(got, expected, `${name} ${JSON.stringify({ value: value.toString('hex'), pre: pre.toString('hex'), suf: suf.toString('hex') })}`);
    }
  }
});

test('stream: agrees with the brute-force reference on random values, forms, overlaps and split points', () => {
  const next = rng(5);
  const alphabet = Buffer.from('ab+/=%2F');
  for (let t = 0; t < 1500; t++) {
    // Small alphabets make overlaps, repeats and values that are prefixes of others common.
    const values: Buffer[] = Array.from({ length: 1 + next(4) }, () => Buffer.from(Array.from({ length: 1 + next(9) }, () => alphabet[next(next(2) ? 2 : alphabet.length)]!)));
    if (next(3) === 0 && values[0]!.length > 2) values.push(values[0]!.subarray(0, values[0]!.length - 1 - next(2)));
    const pieces: Buffer[] = [];
    for (let k = next(12); k > 0; k--) {
      const r = next(4);
      if (r === 0) pieces.push(Buffer.from(Array.from({ length: next(6) }, () => alphabet[next(alphabet.length)]!)));
      else {
        const forms = encodedForms(values[next(values.length)]!);
        const f = forms.length > 0 ? forms[next(forms.length)]!.text : 'ab';
        pieces.push(Buffer.from(r === 1 ? f.slice(0, next(f.length + 1)) : f, 'latin1'));
      }
    }
    const data = Buffer.concat(pieces);
    const expected = naiveMask(data, patternsOf(values));
    // Both engines: the automaton (a few patterns) and the hash index (many).
    const engine = t % 2 === 0 ? 'automaton' : 'hash';
    const got = feedRandomly(new Masker(new MaskPatterns(values, { engine })), data, next);
    assert.equal(got.toString('latin1'), expected.toString('latin1'), JSON.stringify({ engine, values: values.map((v) => v.toString('latin1')), data: data.toString('latin1') }));
    if (t % 5 === 0) assert.equal(maskSecrets(data.toString('latin1'), values.map((v) => v.toString('latin1'))), expected.toString('latin1'));
  }
});

test('stream: thousands of values agree with the reference', () => {
  const next = rng(99);
  const values = Array.from({ length: 4000 }, () => Buffer.from(randomBytes(next, 8 + next(24)).toString('base64url')));
  const patterns = new MaskPatterns(values);
  assert.equal(patterns.matcher.count, patterns.size);
  assert.equal(patterns.automaton, undefined, 'too many patterns for a dense automaton: the hash index is used');
  // The values of 8 and 9 bytes (11 and 12 characters, about 330 of 44,000 patterns) are set
  // apart (with those of 10 bytes too there would be more than 1/64 of the patterns): the rest
  // is looked at every 7th position, they every 8th over 4-byte windows.
  const m = patterns.matcher;
  assert.ok(m instanceof SplitMatcher);
  assert.deepEqual([m.long.window, m.long.stride, m.short.window, m.short.stride], [8, 7, 4, 8]);
  assert.ok(m.short.count > 250 && m.short.count < 420, `${m.short.count} short patterns`);
  assert.ok(patterns.size > 4000 * 8, `${patterns.size} patterns`);
  const pieces: Buffer[] = [];
  for (let k = 0; k < 3000; k++) {
    pieces.push(Buffer.from(randomBytes(next, next(40)).toString('base64')));
    const forms = encodedForms(values[next(values.length)]!);
    const f = forms[next(forms.length)]!.text;
    pieces.push(Buffer.from(next(3) === 0 ? f.slice(0, f.length - 1) : f, 'latin1'));
  }
  const data = Buffer.concat(pieces);
  const expected = naiveMask(data, patternsOf(values));
  assert.ok(expected.length < data.length);
  for (const seed of [1, 2]) {
    const got = feedRandomly(new Masker(patterns), data, rng(seed));
    assert.ok(got.equals(expected), `differs from the reference (seed ${seed})`);
  }
});

/**
 * Words over a two-letter alphabet, and texts of such words and of values, whole or cut (a
 * head, a tail): windows repeat inside a pattern and across patterns (one bucket, many
 * entries), occurrences overlap, and partial occurrences are everywhere.
 */
function abWords(next: (n: number) => number): { word: (n: number) => Buffer; text: (values: Buffer[]) => Buffer } {
  const word = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => 'ab'.charCodeAt(next(2))));
  const text = (values: Buffer[]): Buffer => {
    const pieces: Buffer[] = [];
    for (let k = next(30); k > 0; k--) {
      const v = values[next(values.length)]!;
      const r = next(4);
      pieces.push(r === 0 ? word(next(10)) : r === 1 ? v.subarray(next(v.length)) : r === 2 ? v.subarray(0, next(v.length)) : v);
    }
    return Buffer.concat(pieces);
  };
  return { word, text };
}

/** Masks `data` three ways (random chunks, one write, byte by byte) and compares each with the reference. */
function agreesWithReference(patterns: MaskPatterns, values: Buffer[], data: Buffer, next: (n: number) => number, context: object): void {
  const expected = naiveMask(data, values.map((v) => v.toString('latin1'))).toString('latin1');
  const why = JSON.stringify({ ...context, values: values.map((v) => v.toString('latin1')), data: data.toString('latin1') });
  assert.equal(feedRandomly(new Masker(patterns), data, next).toString('latin1'), expected, why);
  const whole = new Masker(patterns);
  assert.equal(Buffer.concat([whole.write(data), whole.end()]).toString('latin1'), expected, why);
  const single = new Masker(patterns);
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i++) out.push(single.write(data.subarray(i, i + 1)));
  out.push(single.end());
  assert.equal(Buffer.concat(out).toString('latin1'), expected, why);
}

test('stream: long patterns are looked at every stride-th position (one Matcher, every stride from 2 to 8), and agree with the reference', () => {
  const next = rng(12);
  const ab = abWords(next);
  for (let shortest = 9; shortest <= 16; shortest++) {
    for (let t = 0; t < 25; t++) {
      // 17 values of the shortest length: too many to set apart, so one Matcher steps by shortest - 7.
      const distinct = new Set<string>();
      while (distinct.size < 17) distinct.add(ab.word(shortest).toString('latin1'));
      const values = [...[...distinct].map((v) => Buffer.from(v, 'latin1')), ...Array.from({ length: next(6) }, () => ab.word(shortest + next(12)))];
      // Below stride 4 the automaton would be chosen for so few patterns; the Matcher is asked for.
      const patterns = new MaskPatterns(values, shortest < 11 ? { encodings: false, engine: 'hash' } : { encodings: false });
      assert.ok(patterns.matcher instanceof Matcher);
      assert.equal(patterns.matcher.stride, Math.min(shortest - 7, 8));
      assert.equal(patterns.automaton, undefined, 'the Matcher is used, not the automaton');
      agreesWithReference(patterns, values, ab.text(values), next, { shortest });
    }
  }
});

test('stream: beside a long value still undecided, a short one at the same place is masked at once (SplitMatcher)', () => {
  const patterns = new MaskPatterns([b('abcd'), b('abcdefghijklmnopq'), b('zyxwvutsrqponmlk')], { encodings: false, engine: 'hash' });
  assert.ok(patterns.matcher instanceof SplitMatcher);
  const m = new Masker(patterns);
  assert.equal(m.write(b('xabcdefg')).toString('latin1'), 'x*****');
  assert.equal(m.write(b('hijklmnopq')).toString('latin1'), '');
  assert.equal(m.write(b('! abcdzyxwvutsrqponml')).toString('latin1'), '! *****');
  assert.equal(m.write(b('k.')).toString('latin1'), '*****.');
  assert.equal(m.end().toString('latin1'), '');
});

test('stream: a few short values get a Matcher of their own over 4-byte windows beside the long ones (SplitMatcher), and agree with the reference', () => {
  const next = rng(13);
  const ab = abWords(next);
  // Only short ones (every form of a 5-byte value is under 15 bytes): nothing is set apart.
  assert.ok(new MaskPatterns([b('pass1')], { engine: 'hash' }).matcher instanceof Matcher);
  for (let shortest = 4; shortest <= 14; shortest++) {
    for (let t = 0; t < 25; t++) {
      const short = [ab.word(shortest), ...Array.from({ length: next(3) }, () => ab.word(shortest + next(15 - shortest)))];
      const long = Array.from({ length: 3 + next(4) }, () => ab.word(15 + next(10)));
      const values = [...short, ...long];
      const patterns = new MaskPatterns(values, { encodings: false, engine: 'hash' });
      const m = patterns.matcher;
      assert.ok(m instanceof SplitMatcher, 'the short values are set apart');
      assert.equal(m.long.stride, 8);
      assert.deepEqual([m.short.window, m.short.stride], [4, Math.min(8, Math.max(1, shortest - 3))]);
      agreesWithReference(patterns, values, ab.text(values), next, { shortest });
    }
  }
});

test('stream: holds back exactly the longest suffix that can still become an encoded form', () => {
  const v = Buffer.from('hunter22');
  const m = new Masker([v]);
  // "68756e" is a prefix of the hex form; "6875" of nothing longer than it can end here? It is.
  assert.equal(m.write(Buffer.from('id 68756e')).toString(), 'id ');
  assert.equal(m.write(Buffer.from('x')).toString(), '68756ex');
  assert.equal(m.write(Buffer.from(' aHVudGVyMjI= ')).toString(), ' ***** ');
  assert.equal(m.end().toString(), '');
});

test('stream: values sharing their first bytes (one index key, many candidates) agree with the reference', () => {
  const next = rng(7);
  // Raw values that all start "sk_live_", of many lengths, some a prefix of another.
  const values: Buffer[] = [];
  for (let i = 0; i < 300; i++) values.push(Buffer.from(`sk_live_${randomBytes(next, 1 + next(20)).toString('base64url')}`));
  values.push(Buffer.from('sk_l'), Buffer.from('sk_live_'), Buffer.from('sk_live_x'));
  const pieces: Buffer[] = [];
  for (let k = 0; k < 2000; k++) {
    pieces.push(Buffer.from(['sk_', 'sk_li', ' ', 'x', 'sk_live_x'][next(5)]!));
    const v = values[next(values.length)]!;
    pieces.push(next(3) === 0 ? v.subarray(0, next(v.length)) : v);
  }
  const data = Buffer.concat(pieces);
  const raw = values.map((v) => v.toString('latin1'));
  const expected = naiveMask(data, raw);
  assert.ok(expected.length < data.length);
  for (const engine of ['hash', 'automaton'] as const) {
    const patterns = new MaskPatterns(values, { encodings: false, engine });
    for (const seed of [3, 4]) assert.ok(feedRandomly(new Masker(patterns), data, rng(seed)).equals(expected), `${engine} differs from the reference (seed ${seed})`);
  }
});

// ---- large chunks: the automaton scans them in two lanes -----------------------------------

/** Values whose patterns give an automaton that is dense throughout (the two-lane case). */
function laneValues(): { values: Buffer[]; patterns: MaskPatterns } {
  const values = [b('s3cr3t-token-0042'), b('hunter22'), b('Zm9v!bar:baz'), b('0123456789abcdef0123')];
  const patterns = new MaskPatterns(values, { engine: 'automaton' });
  const ac = patterns.automaton!;
  assert.ok(ac !== undefined && ac.denseRows === ac.states, 'a few values: the automaton is dense throughout');
  return { values, patterns };
}

test('scan: a large chunk (two lanes) reports exactly the hits of small chunks (one lane), in order', () => {
  const { values, patterns } = laneValues();
  const ac = patterns.automaton!;
  const next = rng(11);
  const forms = patternsOf(values);
  for (const n of [4096, 4097, 2 * ac.longest + 4096, 65536, 65537]) {
    // Text made of pieces of the forms, so the automaton is rarely at the root, with whole
    // forms planted around the middle, where lane B takes over.
    const pieces: Buffer[] = [];
    let size = 0;
    while (size < n) {
      const f = forms[next(forms.length)]!;
      const piece = Buffer.from(next(2) === 0 ? f : f.slice(0, next(f.length)) + ' ', 'latin1');
      pieces.push(piece);
      size += piece.length;
    }
    const text = Buffer.concat(pieces).subarray(0, n);
    const mid = n >>> 1;
    // Lane B starts `longest` bytes before the middle: the longest form ending just before,
    // at and just after the middle needs every one of them; a form ending at mid - 1 is lane A's.
    for (const form of [longestOf(forms), forms[0]!]) {
      for (const end of [mid - 1, mid, mid + 1, mid + 2, n]) {
        const data = Buffer.from(text);
        b(form).copy(data, end - form.length);
        for (const start of [0, 1]) {
          const state = start === 0 ? 0 : scan(ac, b('s3cr3t-tok'), 0, []);
          const two: number[] = [];
          const last = scan(ac, data, state, two);
          const one: number[] = [];
          let s = state;
          for (let o = 0; o < n; o += 100) {
            const from = one.length;
            s = scan(ac, data.subarray(o, o + 100), s, one);
            for (let h = from; h < one.length; h += 2) one[h] = one[h]! + o;
          }
          assert.deepStrictEqual(two, one, `${n} bytes, ${form} ending at ${end}, start state ${state}`);
          assert.equal(last, s);
          assert.ok(two.includes(end - 1), 'the planted form is found');
        }
      }
    }
  }
});

function longestOf(forms: string[]): string {
  return forms.reduce((x, y) => (y.length > x.length ? y : x));
}

test('stream: large chunks (two lanes) agree with the reference, with a form planted at every offset around the middle', () => {
  const { values, patterns } = laneValues();
  const ac = patterns.automaton!;
  const forms = patternsOf(values);
  const filler = Buffer.alloc(4096 + 7, 'x-');
  const mid = filler.length >>> 1;
  for (const form of [longestOf(forms), forms[forms.length - 1]!, 'hunter22']) {
    for (let at = mid - ac.longest - form.length - 2; at <= mid + 2; at++) {
      const data = Buffer.from(filler);
      b(form).copy(data, at);
      // A second occurrence overlapping the first one's end, across the middle.
      b(form).copy(data, Math.min(at + form.length - 2, data.length - form.length));
      const expected = naiveMask(data, forms);
      assert.ok(feed(values, [data]).equals(expected), `${form} at ${at}, one chunk`);
      // The same bytes behind a held tail: the chunk after one that ends with a possible start.
      const lead = b('hunter2');
      const got = new Masker(patterns);
      const out = Buffer.concat([got.write(lead), got.write(data), got.end()]);
      assert.ok(out.equals(naiveMask(Buffer.concat([lead, data]), forms)), `${form} at ${at}, behind a held tail`);
    }
  }
});
