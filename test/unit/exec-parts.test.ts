import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { run } from '../../src/cli/main.js';
import { addCommands, buildProgram, splitPassthrough } from '../../src/cli/program.js';
import { complete, renderCompletion, type NameSource } from '../../src/cli/complete.js';
import { childEnvironment } from '../../src/exec/environment.js';
import { parseTemplate, renderTemplate, writeFileAtomic } from '../../src/exec/inject.js';
import { tempDir } from '../helpers/cli.js';

/** The program with every command registered, as `vault __complete` builds it. */
async function program(): Promise<ReturnType<typeof buildProgram>> {
  const sink = new PassThrough();
  const io = { stdin: new PassThrough(), stdout: sink, stderr: sink, env: {} };
  const p = buildProgram(io);
  await addCommands(p, io, { status: 0 }, '__complete');
  return p;
}

test('splitPassthrough cuts at the first -- only for exec, skipping global flags and their values', async () => {
  const p = await program();
  assert.deepEqual(splitPassthrough(p, ['exec', '--only', 'A', '--', 'cmd', '--json', '--', 'x']), { argv: ['exec', '--only', 'A'], rest: ['cmd', '--json', '--', 'x'] });
  assert.deepEqual(splitPassthrough(p, ['--vault', 'exec', '--ns', 'get', 'exec', '--', 'a']), { argv: ['--vault', 'exec', '--ns', 'get', 'exec'], rest: ['a'] });
  assert.deepEqual(splitPassthrough(p, ['--ns', 'exec', 'get', '--', 'A']), { argv: ['--ns', 'exec', 'get', '--', 'A'] });
  assert.deepEqual(splitPassthrough(p, ['exec', 'npm', 'start']), { argv: ['exec', 'npm', 'start'] });
  assert.deepEqual(splitPassthrough(p, ['--json', 'exec', '--']), { argv: ['--json', 'exec'], rest: [] });
});

test('childEnvironment: secrets win, unlock variables are dropped from what is inherited, pristine keeps five', () => {
  const inherited = {
    PATH: '/bin',
    HOME: '/h',
    TERM: 'xterm',
    OTHER: 'o',
    SAME: 's',
    A: 'inherited',
    VAULT_MASTER_KEY: 'k',
    VAULT_MASTER_KEY_FILE: 'f',
    VAULT_PASSPHRASE: 'p',
    VAULT_PASSPHRASE_FILE: 'pf',
    VAULT_NEW_PASSPHRASE: 'n',
    VAULT_NEW_PASSPHRASE_FILE: 'nf',
    VAULT_PATH: '/v',
  };
  const injected = new Map([
    ['A', 'secret'],
    ['SAME', 's'],
    ['__proto__', 'x'],
  ]);
  const full = childEnvironment(inherited, injected);
  assert.deepEqual(Object.keys(full.env).sort(), ['A', 'HOME', 'OTHER', 'PATH', 'SAME', 'TERM', 'VAULT_PATH', '__proto__']);
  assert.equal(full.env.A, 'secret');
  assert.equal(full.env['__proto__'], 'x');
  assert.deepEqual(full.overridden, ['A']);
  const pristine = childEnvironment(inherited, injected, { pristine: true });
  assert.deepEqual(Object.keys(pristine.env).sort(), ['A', 'HOME', 'PATH', 'SAME', 'TERM', '__proto__']);
  assert.deepEqual(pristine.overridden, []);
  // A secret the user stored under an unlock variable's name is theirs to pass on.
  assert.equal(childEnvironment(inherited, new Map([['VAULT_PASSPHRASE', 'stored']])).env.VAULT_PASSPHRASE, 'stored');
});

test('parseTemplate / renderTemplate keep every byte outside the references', () => {
  const template = Buffer.concat([Buffer.from('a={{vault://X}} b={{ \tvault://ns/Y@2 }}'), Buffer.from([0xff]), Buffer.from(' {{ vault://X }}{{vault//X}}')]);
  const t = parseTemplate(template, 'default');
  assert.deepEqual(t.refs, [
    { ns: 'default', name: 'X' },
    { ns: 'ns', name: 'Y', version: 2 },
  ]);
  assert.throws(() => parseTemplate(Buffer.from('{{ vault://a b }}{{ vault://9 }}'), 'default'), /invalid secret name "9"/);
  assert.throws(() => parseTemplate(Buffer.from('{{vault://}}'), 'default'), /empty secret name/);
  const out = renderTemplate(t, [Buffer.from('1'), Buffer.from([0x00, 0x0a])]);
  assert.deepEqual(out, Buffer.concat([Buffer.from('a=1 b='), Buffer.from([0x00, 0x0a, 0xff]), Buffer.from(' 1{{vault//X}}')]));
});

test('writeFileAtomic replaces the file with mode 0600 and leaves no temporary file', () => {
  const { dir, cleanup } = tempDir();
  try {
    const path = join(dir, 'out');
    writeFileSync(path, 'old', { mode: 0o644 });
    const mask = process.umask(0o077);
    try {
      writeFileAtomic(path, Buffer.from('new'));
    } finally {
      process.umask(mask);
    }
    assert.equal(readFileSync(path, 'utf8'), 'new');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.throws(() => writeFileAtomic(dir, Buffer.from('x')), { code: 'EISDIR' });
    assert.deepEqual(readdirSync(dir), ['out']);
  } finally {
    cleanup();
  }
});

const NAMES: NameSource = {
  defaultNs: () => 'default',
  names: (where, ns) => (ns === 'prod' ? ['P1'] : ns === undefined || ns === 'default' ? ['ALPHA', 'BETA'] : []),
  namespaces: () => ['default', 'prod'],
};

test('complete: commands, flags, names, namespaces, delegation after exec', async () => {
  const p = await program();
  const c = (...words: string[]): string => renderCompletion(complete(p, words, NAMES));
  assert.match(c('st'), /^values\nstatus\t[^\t\n]+\n$/);
  assert.match(c(''), /^values\n(.+\n)+$/);
  assert.equal(c('get', ''), 'values\nALPHA\nBETA\nprod/\n');
  assert.equal(c('get', 'prod/'), 'values\nprod/P1\n');
  assert.equal(c('get', 'p'), 'nospace\nprod/\n');
  assert.equal(c('get', 'ALPHA', ''), 'values\n');
  assert.equal(c('--ns', ''), 'values\ndefault\nprod\n');
  assert.equal(c('--ns', 'prod', 'get', ''), 'values\nP1\ndefault/\n');
  assert.equal(c('--ns=prod', 'get', ''), 'values\nP1\ndefault/\n');
  assert.equal(c('exec', '--only', 'BETA,'), 'values\nBETA,ALPHA\n');
  assert.equal(c('exec', '--only', 'X', 'npm', 'ru'), 'delegate 4\n');
  assert.equal(c('exec', '--', 'npm'), 'delegate 3\n');
  assert.equal(c('exec', 'np'), 'delegate 2\n');
  assert.equal(c('--vault', ''), 'files\n');
  assert.equal(c('nosuchcommand', ''), 'values\n');
});

test('a missing --env-file is a usage error naming the file (in-process)', async () => {
  const out = new PassThrough();
  const err = new PassThrough();
  let stderr = '';
  err.on('data', (c: Buffer) => (stderr += c.toString()));
  const status = await run(['exec', '--env-file', '/nonexistent/x.env', '--', 'true'], { stdin: new PassThrough(), stdout: out, stderr: err, env: {} });
  assert.equal(status, 2);
  assert.equal(stderr, 'vault: error: cannot read env file /nonexistent/x.env: no such file\n');
});
