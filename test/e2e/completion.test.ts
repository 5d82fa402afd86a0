import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BIN, freshVault, runInProcess } from '../helpers/cli.js';
import { seed } from '../helpers/seed.js';

type Fixture = Awaited<ReturnType<typeof freshVault>>;

/** A `vault` command on PATH, as an installed one would be, and a working directory with files. */
function install(v: Fixture): { env: Record<string, string>; cwd: string } {
  const bin = join(v.dir, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'vault'), `#!/bin/sh\nexec '${process.execPath}' '${BIN}' "$@"\n`);
  chmodSync(join(bin, 'vault'), 0o755);
  const cwd = join(v.dir, 'work');
  mkdirSync(cwd);
  writeFileSync(join(cwd, 'app.env'), 'A=1\n');
  writeFileSync(join(cwd, 'apple.txt'), '');
  return { env: { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: v.dir, VAULT_PATH: v.path }, cwd };
}

/** Runs the bash completion function for `line` (cursor at its end) and returns COMPREPLY. */
function bashComplete(script: string, words: string[], setup: { env: Record<string, string>; cwd: string }): { reply: string[]; stderr: string } {
  const program = `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); _vault; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = spawnSync('bash', ['--norc', '--noprofile', '-c', program, 'bash', script, ...words], { env: setup.env, cwd: setup.cwd, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return { reply: r.stdout.split('\n').filter((l) => l !== ''), stderr: r.stderr };
}

test('the bash completion script completes commands, flags, choices, secret names, files and exec commands', async () => {
  const v = await freshVault();
  try {
    await seed(v, { API_KEY: 'k', API_URL: 'u', DB: 'd', 'prod/X': 'x' });
    const setup = install(v);
    const script = join(v.dir, 'vault.bash');
    const r = await runInProcess(['completion', 'bash']);
    assert.equal(r.status, 0, r.stderr);
    writeFileSync(script, r.stdout);
    const cases: Array<[string[], string[]]> = [
      [['vault', 'ge'], ['get']],
      [['vault', 'ex'], ['exec', 'export']],
      [['vault', 'get', ''], ['API_KEY', 'API_URL', 'DB', 'prod/']],
      [['vault', 'get', 'AP'], ['API_KEY', 'API_URL']],
      [['vault', 'get', 'prod/'], ['prod/X']],
      [['vault', '--ns', 'prod', 'history', ''], ['X', 'default/']],
      [['vault', 'exec', '--only', 'API_KEY,'], ['API_KEY,API_URL', 'API_KEY,DB']],
      [['vault', 'env', '--format', ''], ['dotenv', 'shell', 'json']],
      [['vault', 'completion', ''], ['bash', 'zsh', 'fish']],
      [['vault', 'get', '--no'], ['--no-newline', '--no-input', '--no-color', '--no-session']],
      [['vault', 'import', 'ap'], ['app.env', 'apple.txt']],
      [['vault', 'exec', '--env-file', 'app.'], ['app.env']],
      [['vault', 'exec', '--mask', '--', 'vaul'], ['vault']],
      [['vault', 'exec', '--', 'vault', 'ap'], ['app.env', 'apple.txt']],
    ];
    for (const [words, expected] of cases) {
      const { reply, stderr } = bashComplete(script, words, setup);
      assert.deepEqual(reply.sort(), [...expected].sort(), words.join(' '));
      assert.equal(stderr, '');
    }
    // No vault file: no names, and not a word on stderr.
    const none = bashComplete(script, ['vault', 'get', ''], { ...setup, env: { ...setup.env, VAULT_PATH: join(v.dir, 'absent.db') } });
    assert.deepEqual(none, { reply: [], stderr: '' });
  } finally {
    v.cleanup();
  }
});

test('the zsh completion script offers the same candidates (compadd observed through a stub)', async (t) => {
  if (spawnSync('sh', ['-c', 'command -v zsh']).status !== 0) return t.skip('zsh is not installed');
  const v = await freshVault();
  try {
    await seed(v, { API_KEY: 'k', DB: 'd' });
    const setup = install(v);
    const script = join(v.dir, '_vault');
    writeFileSync(script, (await runInProcess(['completion', 'zsh'])).stdout);
    const program = [
      'compdef() { : }',
      'compadd() { local -a a; a=("$@"); print -rl -- "${(@)a[${a[(i)--]}+1,-1]}" }',
      '_files() { print -r -- "<files>" }',
      '_normal() { print -r -- "<normal ${words[*]} @ $CURRENT>" }',
      'source "$1"; shift',
      'words=("$@"); CURRENT=$#',
      '_vault',
    ].join('\n');
    const complete = (words: string[]): string[] => {
      const r = spawnSync('zsh', ['-f', '-c', program, 'zsh', script, ...words], { env: setup.env, cwd: setup.cwd, encoding: 'utf8' });
      assert.equal(r.stderr, '', words.join(' '));
      return r.stdout.split('\n').filter((l) => l !== '');
    };
    assert.deepEqual(complete(['vault', 'ge']), ['get']);
    assert.deepEqual(complete(['vault', 'get', '']), ['API_KEY', 'DB']);
    assert.deepEqual(complete(['vault', 'exec', '--only', 'DB,']), ['DB,API_KEY']);
    assert.deepEqual(complete(['vault', 'import', '']), ['<files>']);
    assert.deepEqual(complete(['vault', 'exec', '--', 'git', 'sta']), ['<normal git sta @ 2>']);
    assert.equal(spawnSync('zsh', ['-n', script]).status, 0);
  } finally {
    v.cleanup();
  }
});

test('the fish completion script completes commands, secret names, files and exec commands in real fish', async (t) => {
  if (spawnSync('sh', ['-c', 'command -v fish']).status !== 0) {
    if (process.env.CI === 'true') assert.fail('fish is not installed (scripts/setup.sh installs it)');
    return t.skip('fish is not installed');
  }
  const v = await freshVault();
  try {
    await seed(v, { API_KEY: 'k', API_URL: 'u', DB: 'd', 'prod/X': 'x' });
    const setup = install(v);
    const script = join(v.dir, 'vault.fish');
    const r = await runInProcess(['completion', 'fish']);
    assert.equal(r.status, 0, r.stderr);
    writeFileSync(script, r.stdout);
    const complete = (line: string): string[] => {
      const f = spawnSync('fish', ['--no-config', '-c', 'source $argv[1]; complete -C $argv[2]', script, line], { env: setup.env, cwd: setup.cwd, encoding: 'utf8' });
      assert.equal(f.status, 0, f.stderr);
      assert.equal(f.stderr, '');
      // fish prints "candidate<TAB>description"; the candidates are what we assert.
      return f.stdout.split('\n').filter(Boolean).map((l) => l.split('\t')[0]!);
    };
    assert.deepEqual(complete('vault get AP'), ['API_KEY', 'API_URL']);
    assert.deepEqual(complete('vault ex'), ['exec', 'export']);
    assert.deepEqual(complete('vault get prod/'), ['prod/X']);
    assert.deepEqual(complete('vault inject -i ap'), ['app.env', 'apple.txt']);
    assert.deepEqual(complete('vault exec -- printen'), ['printenv']);
  } finally {
    v.cleanup();
  }
});

test('vault __complete reads names without unlocking and prints nothing on stderr', async () => {
  const v = await freshVault();
  try {
    await seed(v, { B: 'b', A: 'a' });
    // No passphrase at all: listing names must not need one.
    const env = { VAULT_PATH: v.path };
    const r = await runInProcess(['__complete', '--', 'get', ''], { env });
    assert.equal(r.status, 0);
    assert.equal(r.stderr, '');
    assert.equal(r.out, 'values\nA\nB\n');
    const files = await runInProcess(['__complete', '--', '--vault', v.path, 'inject', '-i', ''], { env });
    assert.equal(files.out, 'files\n');
    const delegate = await runInProcess(['__complete', '--', 'exec', '--only', 'A', '--', 'ls', '-'], { env });
    assert.equal(delegate.out, 'delegate 5\n');
    const broken = await runInProcess(['__complete', '--', 'get', ''], { env: { VAULT_PATH: join(v.dir, 'nope', 'v.db') } });
    assert.deepEqual([broken.status, broken.out, broken.stderr], [0, 'values\n', '']);
  } finally {
    v.cleanup();
  }
});

test('vault completion refuses an unknown shell', async () => {
  const r = await runInProcess(['completion', 'tcsh']);
  assert.equal(r.status, 2);
  assert.equal(r.stderr.split('\n')[0], "vault: error: command-argument value 'tcsh' is invalid for argument 'shell'; allowed choices are bash, zsh, fish");
});
