/**
 * parseDotenv must equal dotenv.parse for every input. Each corpus case pins both sides to a
 * literal expectation, so a drift in either our scanner or a dotenv upgrade fails here; the
 * seeded generator then compares the two on hundreds of dotenv-like files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dotenv from 'dotenv';
import { dotenvEntries, parseDotenv, parseDotenvLines } from '../../src/exec/dotenv.js';

const CORPUS: Array<[string, string, Record<string, string>]> = [
  ["basic", "A=1\nB=two\n", {"A":"1","B":"two"}],
  ["empty file", "", {}],
  ["only comments", "# one\n  # two\n#three=3\n", {}],
  ["blank lines and whitespace-only lines", "\n\n   \n\t\nA=1\n\n", {"A":"1"}],
  ["export prefix", "export A=1\nexport  B=2\nexport\tC=3\n", {"A":"1","B":"2","C":"3"}],
  ["export alone on a line", "export\n", {}],
  ["export on its own line before an assignment", "export\nA=1\n", {"A":"1"}],
  ["export as a key", "export=1\nexport =2\n", {"export":"2"}],
  ["exportX is a key", "exportX=1\n", {"exportX":"1"}],
  ["single quotes keep everything literal", "A='a\\nb $HOME # x'\n", {"A":"a\\nb $HOME # x"}],
  ["double quotes expand \\n and \\r", "A=\"a\\nb\\rc\\td\"\n", {"A":"a\nb\rc\\td"}],
  ["backticks", "A=`it's \"q\"`\n", {"A":"it's \"q\""}],
  ["double-quoted multi-line", "A=\"line1\nline2\n  line3\"\nB=2\n", {"A":"line1\nline2\n  line3","B":"2"}],
  ["single-quoted multi-line", "A='line1\n\nline3'\nB=2\n", {"A":"line1\n\nline3","B":"2"}],
  ["backtick multi-line", "A=`x\ny`\n", {"A":"x\ny"}],
  ["inline comment after unquoted value", "A=value # comment\nB=v#nospace\n", {"A":"value","B":"v"}],
  ["inline comment after quoted value", "A=\"value\" # comment\nB='v'#c\n", {"A":"value","B":"v"}],
  ["# inside quotes", "A=\"a # b\"\nB='#'\nC=`#x`\n", {"A":"a # b","B":"#","C":"#x"}],
  ["= in values", "A=a=b=c\nB=\"x=y\"\nC==\n", {"A":"a=b=c","B":"x=y","C":"="}],
  ["spaces around =", "A = 1\nB\t=\t2\nC =   spaced out   \n", {"A":"1","B":"2","C":"spaced out"}],
  ["tabs and trailing spaces", "A=\tval\t \nB='q'   \n", {"A":"val","B":"q"}],
  ["empty values", "A=\nB=\"\"\nC=''\nD=``\nE= \n", {"A":"","B":"","C":"","D":"","E":""}],
  ["KEY: value form", "A: 1\nB:  two\nC:3\nD : 4\nE:\t\"q\"\n", {"A":"1","B":"two","E":"q"}],
  ["colon then newline", "A:\nB=2\n", {"A":"B=2"}],
  ["CRLF line endings", "A=1\r\nB=\"x\r\ny\"\r\nC=3\r\n", {"A":"1","B":"x\ny","C":"3"}],
  ["CR-only line endings", "A=1\rB=2\rC=\"a\rb\"\r", {"A":"1","B":"2","C":"a\nb"}],
  ["duplicate keys, last wins", "A=1\nB=x\nA=2\n", {"A":"2","B":"x"}],
  ["keys with dots and dashes", "a.b=1\nc-d=2\n.e=3\n-f=4\n9g=5\n", {"a.b":"1","c-d":"2",".e":"3","-f":"4","9g":"5"}],
  ["keys with spaces are ignored", "MY KEY=1\nOK=2\n", {"OK":"2"}],
  ["unterminated double quote", "A=\"abc\nB=2\n", {"A":"\"abc","B":"2"}],
  ["unterminated single quote", "A='abc\nB=2\n", {"A":"'abc","B":"2"}],
  ["unterminated quote swallowed by a later quote", "A=\"abc\nB=2\"\nC=3\n", {"A":"abc\nB=2","C":"3"}],
  ["quote closed mid-line", "A=\"a\"b\"\nB='a' b\n", {"A":"a\"b","B":"'a' b"}],
  ["escaped quote inside double quotes", "A=\"a\\\"b\"\nB=\"x\\\"\n", {"A":"a\\\"b","B":"x\\"}],
  ["escaped quote inside single quotes", "A='it\\'s'\n", {"A":"it\\'s"}],
  ["backslash n escaped", "A=\"a\\\\nb\"\n", {"A":"a\\\nb"}],
  ["literal \\n unquoted and single-quoted", "A=a\\nb\nB='a\\nb'\nC=\"\\na\"\n", {"A":"a\\nb","B":"a\\nb","C":"\na"}],
  ["unquoted value starting with quote expands", "A=\"a\\nb\n", {"A":"\"a\nb"}],
  ["BOM at start", "\ufeffA=1\nB=2\n", {"A":"1","B":"2"}],
  ["unicode values", "A=héllo wörld 😀\nB=\"日本\"\n", {"A":"héllo wörld 😀","B":"日本"}],
  ["unicode spaces trimmed", "A=\u00a0x\u3000\nB=\u2003\n", {"A":"x","B":""}],
  ["U+2028 inside an unquoted value", "A=a\u2028B=2\n", {"A":"a\u2028B=2"}],
  ["U+2028 as a line start", "junk\u2028B=2\n", {"B":"2"}],
  ["U+2028 with quotes", "A=a\u2028'b'\n", {"A":"a\u2028b"}],
  ["key on one line, = on the next", "A\n=1\n", {"A":"1"}],
  ["quoted value on the line after =", "A=\n'x'\nB=\n\"y\"\n", {"A":"x","B":"y"}],
  ["unquoted value on the line after = is not taken", "A=\nx\n", {"A":""}],
  ["comment between = and quoted value", "A=\n#c\n'x'\n", {"A":""}],
  ["lines without =", "just words\nA=1\n=nokey\n", {"A":"1"}],
  ["trailing backslash then another quote later", "A='x\\'\nB='y' #'\n", {"A":"x\\","B":"y"}],
  ["escaped closing quote lets the value run into the next line", "A='a\\'\nB=\\' # c\n", {"A":"a\\'\nB=\\"}],
  ["escaped closer followed by comment quote", "A='x\\' #'y\nB=1\n", {"A":"x\\","B":"1"}],
  ["__proto__ key", "__proto__=x\nconstructor=y\ntoString=z\n", {"constructor":"y","toString":"z"}],
  ["vertical tab and form feed", "A=\u000bx\f\n\fB=2\n", {"A":"x","B":"2"}],
  ["value with only spaces inside quotes", "A=\"   \"\nB='  '\n", {"A":"   ","B":"  "}],
  ["hash right after =", "A=#x\nB= #y\n", {"A":"","B":""}],
  ["no trailing newline", "A=1\nB=\"2\"", {"A":"1","B":"2"}],
  ["equal sign with quotes after spaces", "A=   \"  padded  \"   \n", {"A":"  padded  "}],
  ["multi-line double quote with escaped newline sequences", "A=\"a\\n\nb\\r\"\n", {"A":"a\n\nb\r"}],
  ["dollar signs are not expanded", "A=$B\nB=${A}x\n", {"A":"$B","B":"${A}x"}],
];

/** Same keys, values and key order. */
function assertSameObject(actual: Record<string, string>, expected: Record<string, string>): void {
  assert.deepStrictEqual(actual, expected);
  assert.deepStrictEqual(Object.keys(actual), Object.keys(expected));
}

test('the corpus is large enough to mean something', () => {
  assert.ok(CORPUS.length >= 40, `only ${CORPUS.length} cases`);
});

for (const [name, input, expected] of CORPUS) {
  test(`corpus: ${name}`, () => {
    assertSameObject(dotenv.parse(input), expected);
    assertSameObject(parseDotenv(input), expected);
    const folded: Record<string, string> = {};
    for (const e of parseDotenvLines(input).entries) folded[e.key] = e.value;
    assertSameObject(folded, expected);
    // what formatDotenv reads its output back with: the same entries, without line numbers
    assert.deepStrictEqual(dotenvEntries(input), parseDotenvLines(input).entries.map(({ key, value }) => ({ key, value })));
  });
}

test('every JavaScript whitespace character is skipped and trimmed as dotenv does', () => {
  for (let c = 0; c <= 0xffff; c++) {
    const ch = String.fromCharCode(c);
    if (c >= 0xd800 && c <= 0xdfff) continue;
    for (const input of [`A=${ch}x${ch}\n${ch}B=1`, `${ch}A${ch}=${ch}'v'${ch}#`, `export${ch}C: ${ch}"y"`]) {
      assert.deepStrictEqual(parseDotenv(input), dotenv.parse(input), `U+${c.toString(16)} in ${JSON.stringify(input)}`);
    }
  }
});

/** mulberry32: a tiny deterministic generator so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomDotenvFile(r: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const keys = ['A', 'B', 'DB_URL', 'a.b', 'x-y', '_', 'export', 'K 1', '9', ''];
  const seps = ['=', '=', ' = ', '\t=', ': ', ':', ' :', '=\n', ':\n'];
  const bits = ['a', 'b c', ' ', '\t', '#', '=', "'", '"', '`', '\\', '\\n', '\\r', '\n', '$X', 'é', '\u2028', '\u00a0', '#c'];
  const bit = (): string => {
    let s = '';
    const n = Math.floor(r() * 6);
    for (let i = 0; i < n; i++) s += pick(bits);
    return s;
  };
  const quote = (): string => {
    const q = pick(["'", '"', '`', '', '']);
    return q + bit() + (r() < 0.85 ? q : '');
  };
  const lineEnd = (): string => pick(['\n', '\n', '\n', '\r\n', '\r']);
  let out = r() < 0.05 ? '\ufeff' : '';
  const lines = Math.floor(r() * 8);
  for (let i = 0; i < lines; i++) {
    const kind = r();
    if (kind < 0.1) out += '';
    else if (kind < 0.2) out += `${pick(['', '  '])}# ${bit()}`;
    else if (kind < 0.25) out += bit();
    else out += `${pick(['', '', ' ', 'export ', 'export\t'])}${pick(keys)}${pick(seps)}${pick(['', ' ', '  '])}${quote()}${pick(['', '', ' ', ' # note', '#x', ' junk'])}`;
    out += lineEnd();
  }
  return r() < 0.2 ? out.replace(/[\r\n]+$/, '') : out;
}

test('seeded random dotenv files parse exactly as dotenv parses them', () => {
  const r = rng(0x5eed);
  let nonEmpty = 0;
  for (let i = 0; i < 600; i++) {
    const input = randomDotenvFile(r);
    const expected = dotenv.parse(input);
    if (Object.keys(expected).length > 0) nonEmpty++;
    assertSameObject(parseDotenv(input), expected);
    assert.deepStrictEqual(dotenvEntries(input), parseDotenvLines(input).entries.map(({ key, value }) => ({ key, value })));
  }
  // Guards the generator itself: a generator that only produced junk would prove nothing.
  assert.ok(nonEmpty > 400, `only ${nonEmpty} generated files had entries`);
});

test('parseDotenvLines: line numbers, duplicates and skipped lines', () => {
  const src = [
    '# header',
    'A=1',
    '',
    'B="multi',
    'line value"',
    'this is junk',
    'export C=3 # ok',
    '  D = 4',
    '=oops',
    '__proto__=x',
    "E='unterminated",
    'A=dup',
    '',
  ].join('\n');
  assert.deepStrictEqual(parseDotenvLines(src), {
    entries: [
      { key: 'A', value: '1', line: 2 },
      { key: 'B', value: 'multi\nline value', line: 4 },
      { key: 'C', value: '3', line: 7 },
      { key: 'D', value: '4', line: 8 },
      { key: 'E', value: "'unterminated", line: 11 },
      { key: 'A', value: 'dup', line: 12 },
    ],
    invalid: [
      { line: 6, text: 'this is junk' },
      { line: 9, text: '=oops' },
      { line: 10, text: '__proto__=x' },
    ],
  });
  assert.deepStrictEqual(parseDotenv(src), { A: 'dup', B: 'multi\nline value', C: '3', D: '4', E: "'unterminated" });
});

test('parseDotenvLines: CRLF and lone CR each end a line', () => {
  assert.deepStrictEqual(parseDotenvLines('A=1\r\nbad line\rB=2\r\n\r\nC="x\r\ny"\r\nworse\r'), {
    entries: [
      { key: 'A', value: '1', line: 1 },
      { key: 'B', value: '2', line: 3 },
      { key: 'C', value: 'x\ny', line: 5 },
    ],
    invalid: [
      { line: 2, text: 'bad line' },
      { line: 7, text: 'worse' },
    ],
  });
});

test('parseDotenvLines: entries spread over lines are not reported as invalid', () => {
  assert.deepStrictEqual(parseDotenvLines('export\nA=1\nB\n=2\nC:\nnext\nD=\n\n"q"\n'), {
    entries: [
      { key: 'A', value: '1', line: 2 },
      { key: 'B', value: '2', line: 3 },
      { key: 'C', value: 'next', line: 5 },
      { key: 'D', value: 'q', line: 7 },
    ],
    invalid: [],
  });
  assert.deepStrictEqual(parseDotenvLines('A="abc\nB=2"\nC=3'), {
    entries: [
      { key: 'A', value: 'abc\nB=2', line: 1 },
      { key: 'C', value: '3', line: 3 },
    ],
    invalid: [],
  });
});

test('parseDotenvLines: blank, whitespace-only, BOM and comment lines are never invalid', () => {
  assert.deepStrictEqual(parseDotenvLines('\ufeff\n   \n\t# c\n#\n \u00a0 \n'), { entries: [], invalid: [] });
  assert.deepStrictEqual(parseDotenvLines(''), { entries: [], invalid: [] });
});

test('parseDotenvLines: lines dotenv ignores are listed once each, in order', () => {
  assert.deepStrictEqual(parseDotenvLines('A : b\nA:b\nMY KEY=1\nexport\n  junk # not a comment\nOK=1\nexport'), {
    entries: [{ key: 'OK', value: '1', line: 6 }],
    invalid: [
      { line: 1, text: 'A : b' },
      { line: 2, text: 'A:b' },
      { line: 3, text: 'MY KEY=1' },
      { line: 4, text: 'export' },
      { line: 5, text: '  junk # not a comment' },
      { line: 7, text: 'export' },
    ],
  });
});

test('parseDotenvLines: U+2028 starts an entry but not a line number', () => {
  assert.deepStrictEqual(parseDotenvLines('junk\u2028B=2\nC=3'), {
    entries: [
      { key: 'B', value: '2', line: 1 },
      { key: 'C', value: '3', line: 2 },
    ],
    invalid: [{ line: 1, text: 'junk\u2028B=2' }],
  });
});
