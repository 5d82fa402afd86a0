/**
 * The serialisers are checked against their real consumers: bash, POSIX sh (dash), zsh and
 * dotenv itself read the output back, and the bytes they produce must equal the secret.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dotenv from 'dotenv';
import { VaultError } from '../../src/core/errors.js';
import { formatDotenv, formatJson, formatShell, type FormatEntry } from '../../src/exec/format.js';

const everyByte = Buffer.alloc(255);
for (let i = 0; i < 255; i++) everyByte[i] = i + 1;
const highBytes = Buffer.alloc(128);
for (let i = 0; i < 128; i++) highBytes[i] = 0x80 + i;

const NASTY: FormatEntry[] = [
  { name: 'SQ', value: Buffer.from("it's 'quoted' ''") },
  { name: 'DQ', value: Buffer.from('say "hi" ""') },
  { name: 'HOME_REF', value: Buffer.from('$HOME ${HOME} $1 $@ $$') },
  { name: 'SUBST', value: Buffer.from('$(id) $((1+1))') },
  { name: 'BACKTICK', value: Buffer.from('`id` ``') },
  { name: 'BACKSLASH', value: Buffer.from('a\\b\\\\c\\') },
  { name: 'LITERAL_NL', value: Buffer.from('line1\\nline2\\r') },
  { name: 'REAL_NL', value: Buffer.from('line1\nline2\n\n') },
  { name: 'CR', value: Buffer.from('a\rb\r\n') },
  { name: 'TABS', value: Buffer.from('\ta\t b \t') },
  { name: 'UNICODE', value: Buffer.from('héllo 日本 😀 \u2028 \ufeff') },
  { name: 'HIGH_BYTES', value: highBytes },
  { name: 'EVERY_BYTE', value: everyByte },
  { name: 'DASH', value: Buffer.from('-n -e --') },
  { name: 'GLOB', value: Buffer.from('* ? [a] ~ ! # ; & | < > ( ) { }') },
  { name: 'EMPTY', value: Buffer.alloc(0) },
];

const tmp = mkdtempSync(join(tmpdir(), 'vault-format-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

function has(shell: string): boolean {
  return spawnSync(shell, ['-c', 'true']).status === 0;
}

/** Runs `script` in `shell` with the file path as $1 and returns stdout bytes. */
function runShell(shell: string, script: string, file: string, locale: string): Buffer {
  // stdin from /dev/null: bash treats a socket on stdin (node's default pipes) as a remote
  // shell and sources ~/.bashrc; a bare environment and HOME keep user startup files out.
  const r = spawnSync(shell, ['-c', script, 'sh', file], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: locale, HOME: tmp },
  });
  assert.equal(r.error, undefined);
  assert.equal(r.stderr.toString(), '', `${shell} wrote to stderr`);
  assert.equal(r.status, 0, `${shell} exit status`);
  return r.stdout;
}

function checkShell(shell: string, sourceCommand: (file: string) => string, locale = 'C.UTF-8'): void {
  const file = join(tmp, `env-${shell}-${locale}.sh`);
  writeFileSync(file, formatShell(NASTY));
  for (const { name, value } of NASTY) {
    const out = runShell(shell, `${sourceCommand(file)}; printf %s "$${name}"`, file, locale);
    assert.deepStrictEqual(out, value, `${shell}: ${name}`);
  }
  // Exported, not just set: a child process must see the same bytes.
  const child = runShell(shell, `${sourceCommand(file)}; env | grep -c '^HOME_REF=' ; printenv DASH`, file, locale);
  assert.equal(child.toString(), '1\n-n -e --\n');
}

test('formatShell: exact output', () => {
  const out = formatShell([
    { name: 'A', value: Buffer.from("it's") },
    { name: 'B', value: Buffer.alloc(0) },
    { name: 'C', value: Buffer.from("''\n$x") },
  ]);
  assert.equal(out.toString('latin1'), "export A='it'\\''s'\nexport B=''\nexport C=''\\'''\\''\n$x'\n");
  assert.deepStrictEqual(formatShell([]), Buffer.alloc(0));
});

test('formatShell: bash reads every value back byte for byte (. file)', () => {
  checkShell('bash', (f) => `. '${f}'`);
});

test('formatShell: bash in the C locale', () => {
  checkShell('bash', (f) => `. '${f}'`, 'C');
});

test('formatShell: bash eval "$(cat file)"', () => {
  checkShell('bash', () => 'eval "$(cat "$1")"');
});

test('formatShell: POSIX sh (dash) reads every value back', () => {
  checkShell('sh', (f) => `. '${f}'`);
});

test('formatShell: dash eval "$(cat file)"', { skip: has('dash') ? false : 'dash not installed' }, () => {
  checkShell('dash', () => 'eval "$(cat "$1")"');
});

const zshMissing = !has('zsh');
test(
  'formatShell: zsh reads every value back',
  { skip: zshMissing && process.env.CI !== 'true' ? 'zsh not installed (required when CI=true)' : false },
  () => {
    checkShell('zsh', (f) => `. '${f}'`);
    checkShell('zsh', () => 'eval "$(cat "$1")"');
  },
);

test('formatShell: NUL is refused, naming the secret but not the value', () => {
  assert.throws(
    () => formatShell([{ name: 'OK', value: Buffer.from('x') }, { name: 'HAS_NUL', value: Buffer.from('top\0secret') }]),
    (e: unknown) =>
      e instanceof VaultError &&
      e.code === 'usage' &&
      e.message === 'secret HAS_NUL contains a NUL byte, which no environment variable can hold' &&
      !e.message.includes('secret\0') &&
      !e.message.includes('top'),
  );
});

test('all formats refuse names that are not variable names and repeated names', () => {
  for (const format of [formatShell, formatDotenv, formatJson]) {
    assert.throws(() => format([{ name: 'A;rm -rf', value: Buffer.from('x') }]), {
      name: 'VaultError',
      code: 'usage',
      message: 'invalid variable name "A;rm -rf"',
    });
    assert.throws(
      () =>
        format([
          { name: 'A', value: Buffer.from('x') },
          { name: 'A', value: Buffer.from('y') },
        ]),
      { name: 'VaultError', code: 'usage', message: 'secret A is given twice' },
    );
  }
});

test('all formats refuse NUL', () => {
  for (const format of [formatShell, formatDotenv, formatJson]) {
    assert.throws(() => format([{ name: 'N', value: Buffer.from([0x61, 0, 0x62]) }]), {
      name: 'VaultError',
      code: 'usage',
      message: 'secret N contains a NUL byte, which no environment variable can hold',
    });
  }
});

// ---------------------------------------------------------------------------------------------

/** The NASTY values that are text and that some dotenv form can carry. */
const DOTENV_OK = NASTY.filter((e) => !['HIGH_BYTES', 'EVERY_BYTE'].includes(e.name));

test('formatDotenv: dotenv.parse reads every representable nasty value back exactly', () => {
  const out = formatDotenv(DOTENV_OK);
  const back = dotenv.parse(out);
  assert.deepStrictEqual(back, Object.fromEntries(DOTENV_OK.map((e) => [e.name, e.value.toString('utf8')])));
  assert.deepStrictEqual(Object.keys(back), DOTENV_OK.map((e) => e.name));
});

test('formatDotenv: exact choice of quoting per value', () => {
  const cases: Array<[string, string]> = [
    ['plain', "V='plain'\n"],
    ['', "V=''\n"],
    ["it's", 'V="it\'s"\n'],
    ['a\nb', 'V="a\\nb"\n'],
    ['a\rb', 'V="a\\rb"\n'],
    ['a\\n\nb', "V='a\\n\nb'\n"],
    ['it\'s "x"', 'V=`it\'s "x"`\n'],
    ['C:\\dir\\', 'V=C:\\dir\\\n'],
    ['it\'s "x" `y`', 'V=it\'s "x" `y`\n'],
    ["it\\'s", "V='it\\'s'\n"],
    ['$HOME # not a comment', "V='$HOME # not a comment'\n"],
  ];
  for (const [value, expected] of cases) {
    const out = formatDotenv([{ name: 'V', value: Buffer.from(value) }]);
    assert.equal(out.toString('utf8'), expected, JSON.stringify(value));
    assert.deepStrictEqual(dotenv.parse(out), { V: value });
  }
});

test('formatDotenv: a multi-entry file with values that interact across lines', () => {
  const entries = [
    { name: 'A', value: Buffer.from('ends with backslash\\') },
    { name: 'B', value: Buffer.from("x'") },
    { name: 'C', value: Buffer.from("' # '") },
    { name: 'D', value: Buffer.from('"\n"') },
    { name: 'E', value: Buffer.from('\\') },
    { name: 'F', value: Buffer.from('`') },
  ];
  const out = formatDotenv(entries);
  assert.equal(out.toString(), 'A=ends with backslash\\\nB="x\'"\nC="\' # \'"\nD=\'"\n"\'\nE=\\\nF=\'`\'\n');
  assert.deepStrictEqual(dotenv.parse(out), Object.fromEntries(entries.map((e) => [e.name, e.value.toString()])));
});

function refusal(value: Buffer | string, message: string): void {
  const v = typeof value === 'string' ? Buffer.from(value) : value;
  assert.throws(() => formatDotenv([{ name: 'OK', value: Buffer.from('fine') }, { name: 'BAD', value: v }]), (e: unknown) => {
    assert.ok(e instanceof VaultError);
    assert.equal(e.code, 'usage');
    assert.equal(e.message, message);
    return true;
  });
}

test('formatDotenv: refuses values no dotenv quoting can carry, and says why', () => {
  refusal(
    '\'"`#',
    'secret BAD cannot be written as dotenv: single quotes: it contains a \' not preceded by a backslash; ' +
      'double quotes: it contains a " not preceded by a backslash; backticks: it contains a ` not preceded by a backslash; ' +
      'unquoted: it contains #, which starts a comment',
  );
  refusal(
    'C:\\my dir #2\\',
    'secret BAD cannot be written as dotenv: single quotes: it ends with a backslash, which would escape the closing quote; ' +
      'double quotes: it ends with a backslash, which would escape the closing quote; ' +
      'backticks: it ends with a backslash, which would escape the closing quote; unquoted: it contains #, which starts a comment',
  );
  refusal(
    'a\r\\n',
    'secret BAD cannot be written as dotenv: single quotes: it contains a carriage return; ' +
      'double quotes: it contains a backslash followed by n or r, which dotenv would turn into a line break; ' +
      'backticks: it contains a carriage return; unquoted: it contains a line break',
  );
  refusal(
    ' \'"` ',
    'secret BAD cannot be written as dotenv: single quotes: it contains a \' not preceded by a backslash; ' +
      'double quotes: it contains a " not preceded by a backslash; backticks: it contains a ` not preceded by a backslash; ' +
      'unquoted: it has leading or trailing whitespace, which dotenv trims',
  );
  refusal(
    '\'"`',
    'secret BAD cannot be written as dotenv: single quotes: it contains a \' not preceded by a backslash; ' +
      'double quotes: it contains a " not preceded by a backslash; backticks: it contains a ` not preceded by a backslash; ' +
      'unquoted: it starts with a quote character',
  );
  // Newline first: double quotes are tried first, and the value swaps a quote for a line break.
  refusal(
    '\n"\'`',
    'secret BAD cannot be written as dotenv: double quotes: it contains a " not preceded by a backslash; ' +
      'single quotes: it contains a \' not preceded by a backslash; backticks: it contains a ` not preceded by a backslash; ' +
      'unquoted: it contains a line break',
  );
});

test('formatDotenv: refuses bytes that are not UTF-8, including a lone high byte', () => {
  for (const v of [highBytes, everyByte, Buffer.from([0x61, 0xff]), Buffer.from([0xc3])]) {
    refusal(v, 'secret BAD cannot be written as dotenv: its value is not valid UTF-8 text');
  }
});

test('formatDotenv: a leading byte order mark is part of the value', () => {
  const out = formatDotenv([{ name: 'V', value: Buffer.from('\ufeffx') }]);
  assert.deepStrictEqual(out, Buffer.from("V='\ufeffx'\n"));
  assert.deepStrictEqual(dotenv.parse(out), { V: '\ufeffx' });
});

test('formatDotenv: seeded random values either round-trip through dotenv or are refused', () => {
  let seed = 42;
  const next = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 4294967296;
  };
  const atoms = ["'", '"', '`', '\\', '\n', '\r', '#', ' ', '\t', 'a', 'n', 'r', '=', '$', '\u2028', 'é'];
  let written = 0;
  for (let i = 0; i < 3000; i++) {
    const entries: FormatEntry[] = [];
    for (let k = 0; k < 3; k++) {
      let v = '';
      const len = Math.floor(next() * 9);
      for (let j = 0; j < len; j++) v += atoms[Math.floor(next() * atoms.length)];
      entries.push({ name: `K${k}`, value: Buffer.from(v) });
    }
    let out: Buffer;
    try {
      out = formatDotenv(entries);
    } catch (e) {
      assert.ok(e instanceof VaultError && e.code === 'usage' && e.message.startsWith('secret K'), String(e));
      continue;
    }
    written++;
    assert.deepStrictEqual(dotenv.parse(out), Object.fromEntries(entries.map((e) => [e.name, e.value.toString()])));
  }
  assert.ok(written > 1500, `only ${written} of 3000 written`);
});

// ---------------------------------------------------------------------------------------------

test('formatJson: exact output', () => {
  const out = formatJson([
    { name: 'A', value: Buffer.from('plain') },
    { name: 'B', value: Buffer.from('q"\\/\n\r\t\u0001\u001f') },
    { name: 'C', value: Buffer.from('日本 😀 \u2028') },
    { name: 'D', value: Buffer.alloc(0) },
    { name: '__proto__', value: Buffer.from('p') },
  ]);
  assert.equal(
    out.toString('utf8'),
    '{"A":"plain","B":"q\\"\\\\/\\n\\r\\t\\u0001\\u001f","C":"日本 😀 \u2028","D":"","__proto__":"p"}\n',
  );
  assert.equal(formatJson([]).toString(), '{}\n');
});

test('formatJson: round-trips every valid nasty value through JSON.parse', () => {
  const out = formatJson(DOTENV_OK);
  assert.deepStrictEqual(JSON.parse(out.toString('utf8')), Object.fromEntries(DOTENV_OK.map((e) => [e.name, e.value.toString('utf8')])));
});

test('formatJson: refuses bytes that are not UTF-8', () => {
  for (const v of [highBytes, everyByte, Buffer.from([0xed, 0xa0, 0x80])]) {
    assert.throws(() => formatJson([{ name: 'BIN', value: v }]), {
      name: 'VaultError',
      code: 'usage',
      message: 'secret BIN cannot be written as JSON: its value is not valid UTF-8 text',
    });
  }
});
