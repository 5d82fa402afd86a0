import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import dotenv from 'dotenv';
import { freshVault, runInProcess } from '../helpers/cli.js';
import { openVault, seed } from '../helpers/seed.js';
import { auditLog, rowsSnapshot as snapshot } from '../helpers/sqlite.js';

type Fixture = Awaited<ReturnType<typeof freshVault>>;

async function withVault(secrets: Record<string, string | Buffer>, fn: (v: Fixture) => Promise<void>): Promise<void> {
  const v = await freshVault();
  try {
    if (Object.keys(secrets).length > 0) await seed(v, secrets);
    await fn(v);
  } finally {
    v.cleanup();
  }
}

function file(v: Fixture, name: string, body: string | Buffer): string {
  const path = join(v.dir, name);
  writeFileSync(path, body);
  return path;
}

/** Every value of `ns`, read through the library with one unlock (the master key: no KDF). */
async function valuesOf(v: Fixture, ns: string): Promise<Record<string, string>> {
  const vault = await openVault(v);
  try {
    const out: Record<string, string> = {};
    for (const { name } of vault.list({ ns })) out[name] = vault.get({ ns, name }).value.toString('utf8');
    return out;
  } finally {
    vault.close();
  }
}

/** Values that every shell must get back byte for byte through `eval "$(vault env --format shell)"`. */
const SHELL_VALUES: Record<string, Buffer> = {
  QUOTES: Buffer.from(`single ' double " back \` mixed '"'"' end'`),
  DOLLAR: Buffer.from('$HOME ${PATH} $(id) `id` $((1+1)) \\$x'),
  BACKSLASH: Buffer.from('\\ \\\\ \\n \\t \\\' trailing\\'),
  NEWLINES: Buffer.from('line 1\nline 2\r\nline 3\n\n'),
  CONTROL: Buffer.from('tab\there bell\u0007 esc\u001b[31m del\u007f'),
  UNICODE: Buffer.from('ünïcödé ✓ 🙂 \u2028 \u00a0'),
  BINARY: Buffer.from([0xff, 0xfe, 0x80, 0x27, 0x5c, 0x0a, 0xc3]),
  DASH: Buffer.from('-n -e --'),
  GLOB: Buffer.from('* ? [a-z] ~ ~root {a,b}'),
  EMPTY: Buffer.alloc(0),
};

function shells(): string[] {
  return ['bash', 'sh', 'zsh'].filter((sh) => spawnSync('sh', ['-c', `command -v ${sh}`]).status === 0);
}

test('env --format shell survives eval in bash, sh and zsh for every byte but NUL', async () => {
  await withVault(SHELL_VALUES, async (v) => {
    const r = await runInProcess(['env', '--format', 'shell'], { env: v.env });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    const out = file(v, 'env.sh', r.stdout);
    const available = shells();
    assert.ok(available.includes('bash') && available.includes('sh'));
    const names = Object.keys(SHELL_VALUES);
    for (const sh of available) {
      // One shell per kind: eval once, then print each variable followed by a NUL (which no
      // value holds), so each value is compared on its own, byte for byte.
      const script = 'f=$1; shift; eval "$(cat "$f")"; for n in "$@"; do eval "printf %s \\"\\$$n\\""; printf \'\\0\'; done';
      const res = spawnSync(sh, ['-c', script, 'sh', out, ...names], { env: { PATH: process.env.PATH } });
      assert.equal(res.status, 0, `${sh}: ${res.stderr.toString()}`);
      const printed: Buffer[] = [];
      for (let at = 0; at < res.stdout.length; ) {
        const nul = res.stdout.indexOf(0, at);
        assert.notEqual(nul, -1, `${sh}: output ends without a NUL`);
        printed.push(res.stdout.subarray(at, nul));
        at = nul + 1;
      }
      assert.equal(printed.length, names.length, sh);
      for (const [i, name] of names.entries()) assert.deepEqual(printed[i], SHELL_VALUES[name], `${sh} ${name}`);
    }
  });
});

test('env output: dotenv by default, parsed back unchanged by the dotenv package; json; --only', async () => {
  const values = {
    PLAIN: 'plain',
    QUOTED: `it's "both"`,
    HASH: 'a # not a comment',
    MULTI: 'line 1\nline 2',
    SPACES: '  padded  ',
    DOLLAR: '$HOME `x`',
    URL: 'postgres://u:p@h:5432/db?x=1#frag',
  };
  await withVault(values, async (v) => {
    const r = await runInProcess(['env'], { env: v.env });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(dotenv.parse(r.stdout), Object.fromEntries(Object.entries(values).sort(([a], [b]) => (a < b ? -1 : 1))));
    assert.equal(Object.keys(dotenv.parse(r.stdout)).join(','), 'DOLLAR,HASH,MULTI,PLAIN,QUOTED,SPACES,URL');
    const json = await runInProcess(['env', '--format', 'json', '--only', 'PLAIN,MULTI'], { env: v.env });
    assert.equal(json.out, '{"MULTI":"line 1\\nline 2","PLAIN":"plain"}\n');
    const flag = await runInProcess(['--json', 'env', '--only', 'PLAIN'], { env: v.env });
    assert.equal(flag.out, '{"PLAIN":"plain"}\n');
    const clash = await runInProcess(['--json', 'env', '--format', 'shell'], { env: v.env });
    assert.equal(clash.status, 2);
    assert.equal(clash.stderr, '{"error":{"code":"usage","message":"--json cannot be used with --format shell"}}\n');
    const bad = await runInProcess(['env', '--format', 'xml'], { env: v.env });
    assert.equal(bad.status, 2);
    assert.equal(bad.stderr.split('\n')[0], "vault: error: option '--format <format>' argument 'xml' is invalid; allowed choices are dotenv, shell, json");
    assert.deepEqual(
      auditLog(v.path).filter((e) => e.op === 'env').map((e) => [e.outcome, e.detail]),
      [
        ['ok', { format: 'dotenv', names: Object.keys(values).sort() }],
        ['ok', { format: 'json', names: ['MULTI', 'PLAIN'] }],
        ['ok', { format: 'json', names: ['PLAIN'] }],
      ],
    );
  });
});

test('a value with a NUL byte is refused by env with 2, naming the secret, in every format', async () => {
  await withVault({ OK: 'fine', NUL: Buffer.from('a\0b') }, async (v) => {
    for (const format of ['dotenv', 'shell', 'json']) {
      const r = await runInProcess(['env', '--format', format], { env: v.env });
      assert.equal(r.status, 2);
      assert.equal(r.out, '');
      assert.equal(r.stderr, 'vault: error: secret default/NUL holds a NUL byte, which an environment variable cannot carry\nvault: hint: vault get prints it as exact bytes\n');
    }
    const only = await runInProcess(['env', '--only', 'OK'], { env: v.env });
    assert.equal(only.out, "OK='fine'\n");
  });
});

test('export: dotenv by default, json and shell; the audit log records it', async () => {
  await withVault({ A: 'x y', B: "it's" }, async (v) => {
    const dot = await runInProcess(['export'], { env: v.env });
    assert.equal(dot.status, 0, dot.stderr);
    assert.deepEqual(dotenv.parse(dot.stdout), { A: 'x y', B: "it's" });
    const json = await runInProcess(['export', '--format', 'json'], { env: v.env });
    assert.equal(json.out, `{"A":"x y","B":"it's"}\n`);
    const shell = await runInProcess(['export', '--format', 'shell'], { env: v.env });
    assert.equal(shell.out, `export A='x y'\nexport B='it'\\''s'\n`);
    assert.deepEqual(
      auditLog(v.path).filter((e) => e.op === 'export').map((e) => e.detail),
      [
        { format: 'dotenv', names: ['A', 'B'] },
        { format: 'json', names: ['A', 'B'] },
        { format: 'shell', names: ['A', 'B'] },
      ],
    );
  });
});

/** Tricky .env files; every key is a valid secret name so that import accepts the file. */
const CORPUS: string[] = [
  'A=1\nB = 2\n  C=  3  \nexport D=4\n# comment\nE=5 # inline comment\nF=6#not-a-comment\n',
  `S='single # not a comment'\nD="double \\n newline"\nT=\`back \\n tick\`\nQ="it's"\nR='say "hi"'\nU=\`both ' and "\`\n`,
  'M="line1\nline2\nline3"\nN=\'a\nb\'\nL=`x\ny`\nAFTER=ok\n',
  'E="a\\tb\\nc\\rd\\\\e\\"f"\nF=\'a\\nb\'\nG=a\\nb\n',
  'A=1\r\nB="x\r\ny"\r\nC=\'z\'\r\n',
  'DUP=1\nDUP=2\nOTHER=x\nDUP=3\n',
  'EMPTY=\nEMPTY2=""\nEMPTY3=\'\'\nEMPTY4= # just a comment\n',
  'URL=postgres://u:p@h:5432/db?x=1#frag\nHASH=abc#def\nSPACED=  a b  \nEQ=a=b=c\nQURL="http://x/#y"\n',
  'U=ünïcödé ✓\nEMOJI="🙂"\nNBSP=\u00a0x\u00a0\n',
  'COLON: value here\nNOSPACE:skipped\nX : also skipped\nY=after\n',
  'A="unclosed\nB=2\nC=\'also unclosed\nD=4\n',
  '\ufeffBOM=1\nexport   SPACED_EXPORT=2\nexportX=3\n  export Y = 4\n',
  'D=$HOME ${X} `cmd` $(id)\nE="$HOME"\n',
  'B=a\\\nC="a\\"\nD=end\n',
  'JSON={"a":1,"b":[1,2]}\nJSON2=\'{"a":"b"}\'\nKEY="-----BEGIN KEY-----\nabc\ndef\n-----END KEY-----"\n',
  'no equals sign here\nA=1\n=novalue\n   \n\t\nB=2',
];

test('import parses exactly as dotenv.parse does (differential, on a corpus of tricky files)', async () => {
  await withVault({}, async (v) => {
    for (const [i, text] of CORPUS.entries()) {
      const ns = `corpus${i}`;
      const path = file(v, `${ns}.env`, text);
      const r = await runInProcess(['import', path, '--ns', ns, '--quiet'], { env: v.env });
      const empty = Object.entries(dotenv.parse(text)).filter(([, value]) => value === '').map(([name]) => name);
      if (empty.length > 0) {
        // As put: no empty values; the whole file is refused, naming them (README, "vault import").
        assert.equal(r.status, 2, `${ns}: ${r.stderr}`);
        assert.equal(r.stderr.split('\n')[0], `vault: error: empty ${empty.length === 1 ? 'value' : 'values'} for ${empty.join(', ')}; nothing was imported`);
        assert.deepEqual(await valuesOf(v, ns), {});
        continue;
      }
      assert.equal(r.status, 0, `${ns}: ${r.stderr}`);
      assert.equal(r.stderr, '');
      assert.deepEqual(await valuesOf(v, ns), { ...dotenv.parse(text) }, `corpus file ${i}: ${JSON.stringify(text)}`);
    }
  });
});

test('import: messages, warnings for skipped lines, --json, stdin, one audit entry', async () => {
  await withVault({}, async (v) => {
    const path = file(v, 'app.env', 'A=1\nnot a line\nB="two"\n');
    const r = await runInProcess(['import', path], { env: v.env });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, `vault: warning: ${path}:2: skipped a line that is not NAME=VALUE\nimported 2 secrets into default\n`);
    assert.equal(r.out, '');
    const json = await runInProcess(['--json', 'import', '-', '--overwrite'], { env: v.env, input: 'B=3\nC=4\n' });
    assert.equal(json.status, 0, json.stderr);
    assert.equal(json.out, '{"ns":"default","imported":2,"created":["C"],"updated":["B"]}\n');
    assert.deepEqual(await valuesOf(v, 'default'), { A: '1', B: '3', C: '4' });
    assert.deepEqual(
      auditLog(v.path).filter((e) => e.op === 'import').map((e) => e.detail),
      [
        { names: ['A', 'B'], overwritten: [] },
        { names: ['B', 'C'], overwritten: ['B'] },
      ],
    );
    const empty = await runInProcess(['import', '-'], { env: v.env, input: '# nothing\n' });
    assert.equal(empty.status, 0);
    assert.equal(empty.stderr, 'imported 0 secrets into default\n');
  });
});

test('import of existing names without --overwrite is refused with 8, listing them, and writes nothing', async () => {
  await withVault({ A: 'old', C: 'old-c' }, async (v) => {
    const before = snapshot(v.path);
    const path = file(v, 'clash.env', 'A=new\nB=new\nC=new\n');
    const r = await runInProcess(['import', path], { env: v.env });
    assert.equal(r.status, 8);
    assert.equal(r.stderr, 'vault: error: secrets default/A, default/C already exist; nothing was imported\nvault: hint: use --overwrite to store new versions of them\n');
    assert.equal(snapshot(v.path), before);
    const ok = await runInProcess(['import', path, '--overwrite'], { env: v.env });
    assert.equal(ok.status, 0, ok.stderr);
    assert.deepEqual(await valuesOf(v, 'default'), { A: 'new', B: 'new', C: 'new' });
  });
});

test('import refuses invalid names and values over 1 MiB with 2, writing nothing', async () => {
  await withVault({ KEEP: 'k' }, async (v) => {
    const before = snapshot(v.path);
    const names = await runInProcess(['import', '-'], { env: v.env, input: 'a.b=1\nGOOD=2\n1X=3\nkebab-case=4\n' });
    assert.equal(names.status, 2);
    assert.equal(names.stderr.split('\n')[0], 'vault: error: invalid secret names "a.b", "1X", "kebab-case"');
    const big = file(v, 'big.env', `SMALL=1\nBIG=${'x'.repeat(1024 * 1024 + 1)}\n`);
    const size = await runInProcess(['import', big], { env: v.env });
    assert.equal(size.status, 2);
    assert.equal(size.stderr, 'vault: error: value of BIG larger than the 1 MiB limit\n');
    assert.equal(snapshot(v.path), before);
  });
});

test('inject replaces references (spaces optional) and keeps every other byte', async () => {
  await withVault({ USER_NAME: 'admin', PASS: `p@ss'"$`, 'prod/DB': 'db-v1' }, async (v) => {
    await seed(v, { 'prod/DB': 'db-v2' });
    const template = Buffer.concat([
      Buffer.from('user={{ vault://USER_NAME }}\npass={{vault://default/PASS}}\ndb={{  vault://prod/DB@1\t}} latest={{ vault://prod/DB }}\n'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('\nkept: {{ not a ref }} {{ vault:// }x}} {USER_NAME}\n'),
    ]);
    const path = file(v, 'tpl', template);
    const r = await runInProcess(['inject', '-i', path], { env: v.env });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.deepEqual(
      r.stdout,
      Buffer.concat([
        Buffer.from(`user=admin\npass=p@ss'"$\ndb=db-v1 latest=db-v2\n`),
        Buffer.from([0xff, 0xfe]),
        Buffer.from('\nkept: {{ not a ref }} {{ vault:// }x}} {USER_NAME}\n'),
      ]),
    );
    const stdin = await runInProcess(['inject', '-i', '-'], { env: v.env, input: 'x={{vault://USER_NAME}}' });
    assert.equal(stdin.out, 'x=admin');
    assert.deepEqual(auditLog(v.path).filter((e) => e.op === 'inject').at(0)?.detail, {
      to: 'stdout',
      names: [],
      refs: ['default/USER_NAME', 'default/PASS', 'prod/DB@1', 'prod/DB'],
    });
  });
});

test('inject -o writes mode 0600 atomically and replaces an existing file only on success', async () => {
  await withVault({ TOKEN: 'tok-123' }, async (v) => {
    const dir = join(v.dir, 'out');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir);
    const out = join(dir, 'config.ini');
    writeFileSync(out, 'old contents\n');
    chmodSync(out, 0o644);
    const bad = file(v, 'bad.tpl', 'a={{ vault://TOKEN }}\nb={{ vault://MISSING }}\n');
    const r = await runInProcess(['inject', '-i', bad, '-o', out], { env: v.env });
    assert.equal(r.status, 3);
    assert.equal(r.stderr, 'vault: error: no secret default/MISSING\nvault: hint: vault list shows the stored names\n');
    assert.equal(readFileSync(out, 'utf8'), 'old contents\n');
    assert.deepEqual(readdirSync(dir), ['config.ini']);
    const malformed = file(v, 'malformed.tpl', 'a={{ vault://bad!name }}\n');
    const rm = await runInProcess(['inject', '-i', malformed, '-o', out], { env: v.env });
    assert.equal(rm.status, 2);
    assert.equal(rm.stderr.split('\n')[0], 'vault: error: invalid secret name "bad!name"');
    const good = file(v, 'good.tpl', 'token={{ vault://TOKEN }}\n');
    const ok = await runInProcess(['inject', '-i', good, '-o', out], { env: v.env });
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stderr, `wrote ${out}\n`);
    assert.equal(ok.out, '');
    assert.equal(readFileSync(out, 'utf8'), 'token=tok-123\n');
    assert.equal(statSync(out).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dir), ['config.ini']);
    const fresh = join(dir, 'new.env');
    const created = await runInProcess(['inject', '-i', good, '-o', fresh], { env: v.env });
    assert.equal(created.status, 0, created.stderr);
    assert.equal(statSync(fresh).mode & 0o777, 0o600);
    const nodir = await runInProcess(['inject', '-i', good, '-o', join(v.dir, 'absent', 'x')], { env: v.env });
    assert.equal(nodir.status, 1);
    assert.equal(nodir.stderr, `vault: error: cannot write ${join(v.dir, 'absent', 'x')}: no such file\n`);
    assert.equal(existsSync(join(v.dir, 'absent')), false);
  });
});

test('export warns on stderr when stdout is a terminal', async (t) => {
  if (!existsSync('/usr/bin/script')) return t.skip('script(1) is not installed');
  await withVault({ A: 'x' }, async (v) => {
    const { BIN } = await import('../helpers/cli.js');
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: v.dir, LANG: 'C.UTF-8', TERM: 'dumb', NO_COLOR: '1', ...v.env };
    // script(1) gives vault a terminal; its stdout and stderr both arrive here, with CRLF line ends.
    const r = spawnSync('/usr/bin/script', ['-qefc', `'${process.execPath}' '${BIN}' export`, '/dev/null'], { env, input: '', encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    // (after the unlock spinner, which ends by clearing its line)
    assert.equal(r.stdout.split('\u001b[2K').at(-1), "vault: warning: printing secret values in plaintext to the terminal\r\nA='x'\r\n");
  });
});
