import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodedForms, Matcher, MIN_MASK_LENGTH, SplitMatcher } from '../../src/exec/mask.js';
import { SecretScanner, type Finding, type ScanSecret } from '../../src/scan/scan.js';
import { rng } from '../helpers/random.js';

/**
 * What SecretScanner must find, by brute force over the whole text: each (line, secret) once,
 * where a stored value or one of its encoded forms starts on that line; the form reported is
 * that of the earliest occurrence on the line (the longest pattern at that start).
 */
function reference(secrets: ScanSecret[], data: Buffer, file: string): Finding[] {
  const text = data.toString('latin1');
  const lineAt: number[] = [];
  for (let i = 0, line = 1; i <= text.length; i++) {
    lineAt.push(line);
    if (text.charCodeAt(i) === 10) line++;
  }
  const best = new Map<string, { start: number; length: number; finding: Finding }>();
  secrets.forEach((s, i) => {
    if (s.value.length < MIN_MASK_LENGTH) return;
    for (const f of encodedForms(s.value)) {
      for (let at = text.indexOf(f.text); at !== -1; at = text.indexOf(f.text, at + 1)) {
        const key = `${lineAt[at]}\0${i}`;
        const cur = best.get(key);
        if (cur === undefined || at < cur.start || (at === cur.start && f.text.length > cur.length)) {
          best.set(key, { start: at, length: f.text.length, finding: { file, line: lineAt[at]!, ns: s.ns, name: s.name, form: f.form } });
        }
      }
    }
  });
  return [...best.values()].map((b) => b.finding).sort((a, b) => a.line - b.line || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Feeds `data` in chunks of 1 to `max` bytes, each copied into the same buffer, as `vault scan` reads a file. */
function scanInChunks(scanner: SecretScanner, data: Buffer, next: (n: number) => number, max: number): Finding[] {
  const buf = Buffer.alloc(max);
  let at = 0;
  return scanner.scanChunks('f', () => {
    const n = Math.min(1 + next(max), data.length - at);
    data.copy(buf, 0, at, at + n);
    at += n;
    return buf.subarray(0, n);
  });
}

function word(next: (n: number) => number, alphabet: string, length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += alphabet[next(alphabet.length)];
  return s;
}

/** Filler over `alphabet` with the values' forms planted in it, often back to back. */
function plantedText(secrets: ScanSecret[], next: (n: number) => number, alphabet: string, plants: number): Buffer {
  const forms = secrets.filter((s) => s.value.length >= MIN_MASK_LENGTH).flatMap((s) => encodedForms(s.value).map((f) => f.text));
  let text = '';
  for (let i = 0; i < plants; i++) text += word(next, alphabet, next(3) === 0 ? 0 : next(12)) + forms[next(forms.length)];
  return Buffer.from(text, 'latin1');
}

function matcherOf(scanner: SecretScanner): Matcher | SplitMatcher {
  return (scanner as unknown as { matcher: Matcher | SplitMatcher }).matcher;
}

test('scanner: exact findings, the line where each starts, whatever the chunks', () => {
  const secrets: ScanSecret[] = [
    { ns: 'default', name: 'API_KEY', value: Buffer.from('sk_live_0123456789abcdef') },
    { ns: 'ci', name: 'PEM', value: Buffer.from('-----BEGIN KEY-----\nMIIE') },
    { ns: 'default', name: 'PIN', value: Buffer.from('123') },
    // the start of API_KEY: both are found where API_KEY is
    { ns: 'default', name: 'API_PREFIX', value: Buffer.from('sk_live_0123') },
  ];
  const hex = Buffer.from('sk_live_0123456789abcdef').toString('hex');
  const data = Buffer.from(`a\nkey=sk_live_0123456789abcdef and ${hex}\n\nx -----BEGIN KEY-----\nMIIE\nsk_live_0123456789abcde\n123\n`);
  const scanner = new SecretScanner(secrets);
  assert.deepEqual(scanner.skipped, ['PIN']);
  const expected: Finding[] = [
    { file: 'f', line: 2, ns: 'default', name: 'API_KEY', form: 'raw' },
    { file: 'f', line: 2, ns: 'default', name: 'API_PREFIX', form: 'raw' },
    { file: 'f', line: 4, ns: 'ci', name: 'PEM', form: 'raw' },
    { file: 'f', line: 6, ns: 'default', name: 'API_PREFIX', form: 'raw' },
  ];
  assert.deepEqual(scanner.scanBuffer('f', data), expected);
  const next = rng(7);
  for (const max of [1, 2, 3, 7, 16, 64]) assert.deepEqual(scanInChunks(scanner, data, next, max), expected, `chunks of up to ${max}`);
  assert.deepEqual(scanner.scanBuffer('f', Buffer.alloc(0)), []);
  assert.deepEqual(new SecretScanner([secrets[2]!]).scanBuffer('f', data), [], 'nothing long enough to look for');
});

test('scanner: agrees with the brute-force reference, in random chunks, at every step of the Matcher', () => {
  const cases: Array<{ seed: number; count: number; lengths: [number, number]; alphabet: string; extra?: ScanSecret[]; kind: string }> = [
    // short values over a small alphabet with newlines: a Matcher that looks at every position
    { seed: 1, count: 6, lengths: [4, 8], alphabet: 'ab\n', kind: 'Matcher/1' },
    // long values: every 8th position
    { seed: 2, count: 6, lengths: [15, 24], alphabet: 'ab\n', kind: 'Matcher/8' },
    // many long values and two short ones: the short ones' forms get a Matcher of their own
    { seed: 3, count: 300, lengths: [16, 20], alphabet: 'abcdefgh', extra: [{ ns: 'x', name: 'SHORT_1', value: Buffer.from('ab\nab') }, { ns: 'x', name: 'SHORT_2', value: Buffer.from('hgfe') }], kind: 'SplitMatcher' },
  ];
  for (const c of cases) {
    const next = rng(c.seed);
    const secrets: ScanSecret[] = Array.from({ length: c.count }, (_, i) => ({ ns: 'default', name: `S_${String(i).padStart(3, '0')}`, value: Buffer.from(word(next, c.alphabet, c.lengths[0] + next(c.lengths[1] - c.lengths[0] + 1)), 'latin1') }));
    secrets.push(...(c.extra ?? []));
    const scanner = new SecretScanner(secrets);
    const m = matcherOf(scanner);
    assert.equal(m instanceof SplitMatcher ? 'SplitMatcher' : `Matcher/${m.stride}`, c.kind);
    for (let round = 0; round < 20; round++) {
      const data = plantedText(secrets, next, c.alphabet, 40);
      const expected = reference(secrets, data, 'f');
      assert.ok(expected.length > 0);
      assert.deepEqual(scanner.scanBuffer('f', data), expected, `seed ${c.seed} round ${round}, whole`);
      assert.deepEqual(scanInChunks(scanner, data, next, 1 + next(60)), expected, `seed ${c.seed} round ${round}, chunks`);
    }
  }
});
