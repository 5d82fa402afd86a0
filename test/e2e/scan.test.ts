import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BIN, freshVault, runCommand, runInProcess, type RunResult } from '../helpers/cli.js';
import { seed } from '../helpers/seed.js';
import { auditLog } from '../helpers/sqlite.js';

type Fixture = Awaited<ReturnType<typeof freshVault>>;

const STRIPE = 'sk_live_51HxQ2eKv9aZ';
const DB_PASS = 'p@ss word/+=&x';
const GH = 'ghp_R4nd0mT0k3nV4lu3';

async function withVault(secrets: Record<string, string | Buffer>, fn: (v: Fixture) => Promise<void>): Promise<void> {
  const v = await freshVault();
  try {
    await seed(v, secrets);
    await fn(v);
  } finally {
    v.cleanup();
  }
}

function write(path: string, content: string | Buffer): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, content);
}

function assertNoValue(r: RunResult, values: string[]): void {
  for (const value of values) {
    for (const form of [value, Buffer.from(value).toString('base64'), Buffer.from(value).toString('hex')]) {
      assert.ok(!r.out.includes(form) && !r.stderr.includes(form), 'a value (or a form of it) was printed');
    }
  }
}

test('scan: finds each stored value and its encoded forms in a tree, FILE:LINE: NAME, exit 1', async () => {
  await withVault({ STRIPE_KEY: STRIPE, DB_PASS, 'ci/GH_TOKEN': GH, SHORT: 'abc' }, async (v) => {
    // PORT is stored and marked not secret: scan leaves it out, as exec --mask does.
    const put = await runInProcess(['put', 'PORT', '--not-secret'], { env: v.env, input: '8080' });
    assert.deepEqual([put.status, put.stderr], [0, 'stored default/PORT version 1\n']);
    const tree = join(v.dir, 'tree');
    write(join(tree, 'config.env'), `# settings\nPORT=8080\nSTRIPE_KEY=${STRIPE}\n`);
    write(join(tree, 'src', 'db.js'), `const a = 1;\n\nconst url = "postgres://app:${encodeURIComponent(DB_PASS)}@db/app";\nconst b = "${Buffer.from(DB_PASS).toString('hex').toUpperCase()}";\n`);
    // Basic auth: the value last in a larger base64 string.
    write(join(tree, 'src', 'deep', 'http.txt'), `GET / HTTP/1.1\nAuthorization: Basic ${Buffer.from(`app:${DB_PASS}`).toString('base64')}\n`);
    // binary, with NUL bytes around a base64url form
    write(join(tree, 'img.bin'), Buffer.concat([Buffer.from([0, 1, 2, 10, 0xff]), Buffer.from(Buffer.from(STRIPE).toString('base64url')), Buffer.from([0, 10])]));
    write(join(tree, 'clean.txt'), 'nothing to see\n');
    // Neither .git nor a symlink is read; the link's target outside the tree holds a value.
    write(join(tree, '.git', 'config'), STRIPE);
    write(join(v.dir, 'outside.txt'), STRIPE);
    symlinkSync(join(v.dir, 'outside.txt'), join(tree, 'link.txt'));
    symlinkSync(join(tree, 'src'), join(tree, 'src-again'));
    const r = await runInProcess(['scan'], { env: v.env, cwd: tree });
    // PORT=8080 is in config.env, but PORT is not secret: not reported.
    assert.equal(r.out, ['config.env:3: STRIPE_KEY', 'img.bin:2: STRIPE_KEY', 'src/db.js:3: DB_PASS', 'src/db.js:4: DB_PASS', 'src/deep/http.txt:2: DB_PASS', ''].join('\n'));
    assert.equal(
      r.stderr,
      'vault: warning: not looked for (shorter than 4 bytes): SHORT\n' +
        'vault: 5 stored values found in 4 of 5 files; remove them, and rotate any that was committed or shared (vault rotate NAME)\n',
    );
    assert.equal(r.status, 1);
    assertNoValue(r, [STRIPE, DB_PASS]);

    // Paths name what to scan; a file named directly is read, and printed as given.
    const some = await runInProcess(['scan', 'src/deep', 'config.env', 'link.txt'], { env: v.env, cwd: tree });
    assert.equal(some.out, 'src/deep/http.txt:2: DB_PASS\nconfig.env:3: STRIPE_KEY\nlink.txt:1: STRIPE_KEY\n');
    assert.equal(some.status, 1);

    // --ns: another namespace's values
    const ci = await runInProcess(['--ns', 'ci', 'scan', '--quiet'], { env: v.env, cwd: tree });
    assert.deepEqual([ci.status, ci.out, ci.stderr], [0, '', '']);
    write(join(tree, 'ci.yml'), `token: ${GH}\n`);
    const ci2 = await runInProcess(['--ns', 'ci', 'scan', '--quiet'], { env: v.env, cwd: tree });
    assert.deepEqual([ci2.status, ci2.out, ci2.stderr], [1, 'ci.yml:1: GH_TOKEN\n', '']);

    // --json: the same findings with the form that matched; never a value
    const j = await runInProcess(['scan', '--json', 'src'], { env: v.env, cwd: tree });
    assert.equal(j.status, 1);
    assert.deepEqual(JSON.parse(j.out), {
      findings: [
        { file: 'src/db.js', line: 3, ns: 'default', name: 'DB_PASS', form: 'url' },
        { file: 'src/db.js', line: 4, ns: 'default', name: 'DB_PASS', form: 'hex' },
        { file: 'src/deep/http.txt', line: 2, ns: 'default', name: 'DB_PASS', form: 'base64' },
      ],
      files: 2,
      unreadable: [],
    });
    assert.equal(j.stderr, 'vault: warning: not looked for (shorter than 4 bytes): SHORT\n');
    assertNoValue(j, [STRIPE, DB_PASS]);

    // One audit entry per scan, a bulk read naming the secrets read, no value.
    const scans = auditLog(v.path).filter((e) => e.op === 'scan');
    assert.equal(scans.length, 5);
    assert.deepEqual(scans[0]!.detail, { paths: 1, names: ['DB_PASS', 'PORT', 'SHORT', 'STRIPE_KEY'] });
    assert.equal(scans[0]!.outcome, 'ok');
    assert.deepEqual(scans[2]!.detail, { paths: 1, names: ['GH_TOKEN'] });
    assert.ok(!JSON.stringify(auditLog(v.path)).includes(STRIPE));
  });
});

test('scan: a clean tree exits 0; a value split across lines and a multi-line value get the line where they start', async () => {
  const PEM = '-----BEGIN KEY-----\nMIIEabcdefghijkl\n-----END KEY-----';
  await withVault({ PEM }, async (v) => {
    const tree = join(v.dir, 'tree');
    write(join(tree, 'a.txt'), 'hello\n');
    const clean = await runInProcess(['scan'], { env: v.env, cwd: tree });
    assert.deepEqual([clean.status, clean.out, clean.stderr], [0, '', 'vault: no stored value found in 1 file\n']);
    write(join(tree, 'key.pem'), `one\ntwo\n${PEM}\nfour\n${PEM}`);
    const r = await runInProcess(['scan', '--quiet'], { env: v.env, cwd: tree });
    assert.deepEqual([r.status, r.out, r.stderr], [1, 'key.pem:3: PEM\nkey.pem:7: PEM\n', '']);
  });
});

test('scan: bad input gets one line, the documented code, and no unlock or audit entry', async () => {
  await withVault({ STRIPE_KEY: STRIPE }, async (v) => {
    const before = auditLog(v.path).length;
    const missing = await runInProcess(['scan', 'nope'], { env: v.env, cwd: v.dir });
    assert.deepEqual([missing.status, missing.out, missing.stderr], [2, '', 'vault: error: cannot scan nope: no such file or directory\n']);
    const notRepo = await runInProcess(['scan', '--staged'], { env: v.env, cwd: v.dir });
    assert.deepEqual([notRepo.status, notRepo.out], [2, '']);
    assert.equal(notRepo.stderr, 'vault: error: not in a git repository\nvault: hint: run it inside the repository whose staged changes to check\n');
    const both = await runInProcess(['scan', '--staged', 'x'], { env: v.env, cwd: v.dir });
    assert.deepEqual([both.status, both.stderr.split('\n')[0]], [2, 'vault: error: --staged takes no paths']);
    const force = await runInProcess(['scan', '--force'], { env: v.env, cwd: v.dir });
    assert.deepEqual([force.status, force.stderr], [2, 'vault: error: --force goes with --install-hook\n']);
    assert.equal(auditLog(v.path).length, before);
    // locked: no way to unlock without a terminal
    const locked = await runInProcess(['scan'], { env: { VAULT_PATH: v.path }, cwd: v.dir });
    assert.equal(locked.status, 4);
    assert.equal(locked.out, '');
  });
});

test('scan: an unreadable file is reported and makes the exit status 1, the rest is scanned', { skip: process.getuid?.() === 0 ? 'root reads everything' : false }, async () => {
  await withVault({ STRIPE_KEY: STRIPE }, async (v) => {
    const tree = join(v.dir, 'tree');
    write(join(tree, 'a.txt'), 'ok\n');
    write(join(tree, 'b.txt'), 'hidden\n');
    chmodSync(join(tree, 'b.txt'), 0o000);
    const r = await runInProcess(['scan'], { env: v.env, cwd: tree });
    assert.deepEqual([r.status, r.out, r.stderr], [1, '', 'vault: warning: cannot read b.txt: permission denied\n']);
  });
});

// ---- git ----------------------------------------------------------------------------------

interface Repo {
  dir: string;
  env: Record<string, string>;
  git: (...args: string[]) => Promise<RunResult>;
}

/** A real repository, and a `vault` on PATH (as a hook finds it) running this build. */
async function repo(v: Fixture): Promise<Repo> {
  const dir = join(v.dir, 'repo');
  mkdirSync(dir);
  const bin = join(v.dir, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'vault'), `#!/bin/sh\nexec '${process.execPath}' '${BIN}' "$@"\n`, { mode: 0o755 });
  const env = { ...v.env, PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com', GIT_CONFIG_NOSYSTEM: '1' };
  const git = (...args: string[]): Promise<RunResult> => runCommand('git', args, { env, cwd: dir });
  const init = await git('init', '-q', '-b', 'main', '.');
  assert.equal(init.status, 0, init.stderr);
  return { dir, env, git };
}

test('scan --staged: the staged version of added and changed files, with its line numbers', async () => {
  await withVault({ STRIPE_KEY: STRIPE, GH_TOKEN: GH }, async (v) => {
    const r = await repo(v);
    write(join(r.dir, 'app.js'), 'line 1\nline 2\n');
    write(join(r.dir, 'gone.txt'), `${GH}\n`);
    await r.git('add', '.');
    assert.equal((await r.git('commit', '-qm', 'first', '--no-verify')).status, 0);
    const clean = await runInProcess(['scan', '--staged', '--quiet'], { env: r.env, cwd: r.dir });
    assert.deepEqual([clean.status, clean.out, clean.stderr], [0, '', '']);
    // Staged: the key on line 3 of app.js. Then, unstaged: two lines above it in the work tree.
    write(join(r.dir, 'app.js'), `line 1\nline 2\nkey = "${STRIPE}"\n`);
    write(join(r.dir, 'sub dir', 'new.txt'), `x ${Buffer.from(GH).toString('base64')}\n`);
    await r.git('add', 'app.js', 'sub dir/new.txt');
    await r.git('rm', '-q', 'gone.txt');
    write(join(r.dir, 'app.js'), `extra\nextra\nline 1\nline 2\nkey = "${STRIPE}"\n`);
    write(join(r.dir, 'untracked.txt'), GH);
    mkdirSync(join(r.dir, 'deeper'));
    const found = await runInProcess(['scan', '--staged'], { env: r.env, cwd: join(r.dir, 'deeper') });
    assert.equal(found.out, 'app.js:3: STRIPE_KEY\nsub dir/new.txt:1: GH_TOKEN\n');
    assert.equal(found.stderr, 'vault: 2 stored values found in 2 of 2 files; remove them, and rotate any that was committed or shared (vault rotate NAME)\n');
    assert.equal(found.status, 1);
    const entry = auditLog(v.path).at(-1)!;
    assert.deepEqual([entry.op, entry.detail], ['scan', { staged: true, names: ['GH_TOKEN', 'STRIPE_KEY'] }]);
  });
});

test('scan --install-hook: a pre-commit hook that refuses a commit holding a stored value; idempotent; a foreign hook needs --force', async () => {
  await withVault({ STRIPE_KEY: STRIPE }, async (v) => {
    const r = await repo(v);
    const hook = join(r.dir, '.git', 'hooks', 'pre-commit');
    const installed = await runInProcess(['scan', '--install-hook'], { env: r.env, cwd: r.dir });
    assert.deepEqual([installed.status, installed.out, installed.stderr], [0, '', `installed ${hook}\n`]);
    const script = readFileSync(hook, 'utf8');
    assert.equal(
      script,
      '#!/bin/sh\n# Installed by `vault scan --install-hook`: refuses a commit whose staged files hold a value stored in vault.\n# Skip it once with: git commit --no-verify\nexec vault scan --staged\n',
    );
    assert.equal(statSync(hook).mode & 0o777, 0o755);
    const again = await runInProcess(['scan', '--install-hook'], { env: r.env, cwd: r.dir });
    assert.deepEqual([again.status, again.stderr], [0, `${hook} is already installed\n`]);
    // With --ns and --vault, the hook names them (rewriting our own hook needs no --force).
    const withNs = await runInProcess(['--vault', v.path, '--ns', 'default', 'scan', '--install-hook'], { env: r.env, cwd: r.dir });
    assert.deepEqual([withNs.status, withNs.stderr], [0, `updated ${hook}\n`]);
    assert.equal(readFileSync(hook, 'utf8').split('\n')[3], `exec vault --vault ${v.path} --ns default scan --staged`);

    write(join(r.dir, 'ok.txt'), 'fine\n');
    await r.git('add', 'ok.txt');
    const good = await r.git('commit', '-qm', 'clean');
    assert.equal(good.status, 0, good.stderr);
    write(join(r.dir, 'leak.env'), `A=1\nSTRIPE_KEY=${STRIPE}\n`);
    await r.git('add', 'leak.env');
    const bad = await r.git('commit', '-qm', 'leak');
    assert.equal(bad.status, 1);
    // git shows a hook's stdout on its stderr
    assert.match(bad.stderr, /^leak\.env:2: STRIPE_KEY\nvault: 1 stored value found in 1 of 1 files;/);
    assert.equal((await r.git('rev-list', '--count', 'HEAD')).out, '1\n', 'the leaking commit was not made');

    // A hook someone else wrote is refused, untouched, unless --force (which keeps it).
    const foreign = '#!/bin/sh\necho mine\n';
    writeFileSync(hook, foreign);
    const refused = await runInProcess(['scan', '--install-hook'], { env: r.env, cwd: r.dir });
    assert.equal(refused.status, 8);
    assert.equal(refused.stderr, `vault: error: ${hook} already exists and was not written by vault\nvault: hint: add \`vault scan --staged\` to it yourself, or use --force to replace it (the old hook is kept as pre-commit.bak)\n`);
    assert.equal(readFileSync(hook, 'utf8'), foreign);
    const forced = await runInProcess(['scan', '--install-hook', '--force'], { env: r.env, cwd: r.dir });
    assert.deepEqual([forced.status, forced.stderr], [0, `replaced ${hook}\n`]);
    assert.equal(readFileSync(hook, 'utf8'), script);
    assert.equal(readFileSync(`${hook}.bak`, 'utf8'), foreign);
  });
});
