import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { freshVault, runInProcess, runVault } from '../helpers/cli.js';
import { expire, seed } from '../helpers/seed.js';

type Fixture = Awaited<ReturnType<typeof freshVault>>;

const PROJECT = {
  namespace: 'myapp',
  secrets: {
    DATABASE_URL: { description: 'Postgres connection string' },
    STRIPE_KEY: { required: true },
    SENTRY_DSN: { required: false, description: 'error reporting' },
  },
};

/** A vault and a git repository `repo` (with a `sub` directory) holding `project` as vault.project.json. */
async function withProject(project: unknown, secrets: Record<string, string>, fn: (v: Fixture, repo: string, sub: string) => Promise<void>): Promise<void> {
  const v = await freshVault();
  try {
    if (Object.keys(secrets).length > 0) await seed(v, secrets);
    const repo = join(v.dir, 'repo');
    const sub = join(repo, 'src', 'deep');
    mkdirSync(join(repo, '.git'), { recursive: true });
    mkdirSync(sub, { recursive: true });
    if (project !== undefined) writeFileSync(join(repo, 'vault.project.json'), typeof project === 'string' ? project : JSON.stringify(project, null, 2));
    await fn(v, repo, sub);
  } finally {
    v.cleanup();
  }
}

test('vault check lists the missing secrets of the project file found above the working directory: exit 3, then 0', async () => {
  await withProject(PROJECT, { 'myapp/STRIPE_KEY': 'sk_test_value_1' }, async (v, repo, sub) => {
    const file = join(repo, 'vault.project.json');
    let r = await runInProcess(['check'], { env: v.env, cwd: sub });
    assert.equal(r.status, 3, r.stderr);
    assert.equal(r.out, 'DATABASE_URL\tmissing required\tPostgres connection string\nSENTRY_DSN\tmissing optional\terror reporting\n');
    assert.equal(r.stderr, `vault: namespace myapp (from ${file})\n2 missing of 3 secrets of ${file} in namespace myapp; store one with: vault put myapp/DATABASE_URL\n`);

    r = await runInProcess(['check', '--json'], { env: v.env, cwd: sub });
    assert.equal(r.status, 3);
    assert.deepEqual(JSON.parse(r.out), {
      file,
      ns: 'myapp',
      ok: false,
      missing: ['DATABASE_URL'],
      expired: [],
      secrets: [
        { name: 'DATABASE_URL', required: true, description: 'Postgres connection string', present: false, expired: false },
        { name: 'STRIPE_KEY', required: true, description: null, present: true, expired: false },
        { name: 'SENTRY_DSN', required: false, description: 'error reporting', present: false, expired: false },
      ],
    });
    assert.ok(!r.out.includes('sk_test_value_1') && !r.stderr.includes('sk_test_value_1'));

    await seed(v, { 'myapp/DATABASE_URL': 'postgres://u:p@h/db', 'myapp/SENTRY_DSN': 'https://sentry' });
    r = await runInProcess(['check', '--quiet'], { env: v.env, cwd: sub });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.out, '');
    assert.equal(r.stderr, '');

    // --ns checks the same list against another namespace
    r = await runInProcess(['check', '--ns', 'staging'], { env: v.env, cwd: sub });
    assert.equal(r.status, 3);
    assert.equal(r.out, 'DATABASE_URL\tmissing required\tPostgres connection string\nSTRIPE_KEY\tmissing required\nSENTRY_DSN\tmissing optional\terror reporting\n');
    assert.equal(r.stderr, `3 missing of 3 secrets of ${file} in namespace staging; store one with: vault put staging/DATABASE_URL\n`);

    // an expired required secret: exit 9
    await expire(v, 'myapp', 'STRIPE_KEY');
    r = await runInProcess(['check', '--quiet'], { env: v.env, cwd: sub });
    assert.equal(r.status, 9);
    assert.equal(r.out, 'STRIPE_KEY\texpired required\n');
  });
});

test('vault exec fails fast with exit 3 listing every missing required secret, before the command starts', async () => {
  await withProject(PROJECT, { 'myapp/SENTRY_DSN': 'dsn-value' }, async (v, repo, sub) => {
    const marker = join(v.dir, 'started');
    const r = await runVault(['exec', '--', 'touch', marker], { env: v.env, cwd: sub });
    assert.equal(r.status, 3);
    assert.equal(r.out, '');
    assert.equal(
      r.stderr,
      `vault: namespace myapp (from ${join(repo, 'vault.project.json')})\n` +
        `vault: error: missing 2 required secrets of ${join(repo, 'vault.project.json')} in namespace myapp: DATABASE_URL, STRIPE_KEY\n` +
        'vault: hint: store each with: vault put myapp/DATABASE_URL; vault check lists what is missing\n',
    );
    assert.equal(existsSync(marker), false);
    // the alias `run` behaves the same
    const alias = await runVault(['--quiet', 'run', '--', 'touch', marker], { env: v.env, cwd: sub });
    assert.equal(alias.status, 3);
    assert.equal(existsSync(marker), false);
  });
});

test('exec, env, export and inject use the project namespace; --ns overrides it and turns the project file off', async () => {
  await withProject(PROJECT, { 'myapp/DATABASE_URL': 'pg-url', 'myapp/STRIPE_KEY': 'sk-1', 'default/OTHER': 'other-1', 'ci/CI_ONLY': 'ci-1' }, async (v, repo, sub) => {
    const notice = `vault: namespace myapp (from ${join(repo, 'vault.project.json')})\n`;
    let r = await runVault(['exec', '--', 'sh', '-c', 'printf "%s|%s|%s" "$DATABASE_URL" "$STRIPE_KEY" "${OTHER-unset}"'], { env: v.env, cwd: sub });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.out, 'pg-url|sk-1|unset');
    assert.equal(r.stderr, notice);

    r = await runInProcess(['env', '--format', 'json'], { env: v.env, cwd: sub });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.out), { DATABASE_URL: 'pg-url', STRIPE_KEY: 'sk-1' });
    r = await runInProcess(['export', '--quiet'], { env: v.env, cwd: sub });
    assert.equal(r.out, "DATABASE_URL='pg-url'\nSTRIPE_KEY='sk-1'\n");
    writeFileSync(join(sub, 'tpl'), 'url={{ vault://DATABASE_URL }}\n');
    r = await runInProcess(['inject', '-i', 'tpl'], { env: v.env, cwd: sub });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.out, 'url=pg-url\n');

    // --ns: that namespace, no required check (CI_ONLY is all ci has), no notice
    r = await runVault(['exec', '--ns', 'ci', '--', 'sh', '-c', 'printf "%s|%s" "$CI_ONLY" "${DATABASE_URL-unset}"'], { env: v.env, cwd: sub });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.out, 'ci-1|unset');
    assert.equal(r.stderr, '');
    // VAULT_NS does not override the project file (only --ns does)
    r = await runInProcess(['env', '--format', 'json', '--quiet'], { env: { ...v.env, VAULT_NS: 'ci' }, cwd: sub });
    assert.deepEqual(JSON.parse(r.out), { DATABASE_URL: 'pg-url', STRIPE_KEY: 'sk-1' });
  });
});

test('the search stops at the git root: a project file above the repository is not used', async () => {
  await withProject(undefined, { 'default/OTHER': 'other-1' }, async (v, repo, sub) => {
    writeFileSync(join(v.dir, 'vault.project.json'), JSON.stringify({ namespace: 'elsewhere', secrets: { NEEDED: {} } }));
    let r = await runVault(['exec', '--', 'sh', '-c', 'printf %s "$OTHER"'], { env: v.env, cwd: sub });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.out, 'other-1');
    assert.equal(r.stderr, '');
    r = await runInProcess(['check'], { env: v.env, cwd: sub });
    assert.equal(r.status, 2);
    assert.equal(r.stderr, 'vault: error: no project file: no vault.project.json in this directory or above it (up to the repository\'s root)\nvault: hint: see "The project file" in the README\n');
    // outside the repository (v.dir has no .git), the file in v.dir is found
    r = await runInProcess(['check', '--quiet'], { env: v.env, cwd: v.dir });
    assert.equal(r.status, 3);
    assert.equal(r.out, 'NEEDED\tmissing required\n');
  });
});

test('a project file without a namespace keeps $VAULT_NS / default and still requires its secrets', async () => {
  await withProject({ secrets: { OTHER: {} } }, { 'default/OTHER': 'other-1' }, async (v, _repo, sub) => {
    const r = await runVault(['exec', '--', 'sh', '-c', 'printf %s "$OTHER"'], { env: v.env, cwd: sub });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.out, 'other-1');
    assert.equal(r.stderr, '');
    const ci = await runVault(['exec', '--', 'true'], { env: { ...v.env, VAULT_NS: 'ci' }, cwd: sub });
    assert.equal(ci.status, 3);
    assert.match(ci.stderr, /^vault: error: missing a required secret of .*vault\.project\.json in namespace ci: OTHER\n/);
  });
});

const MALFORMED: Array<[string, string, string]> = [
  ['not JSON', '{ "namespace": "x", ', 'not valid JSON (at line 1, column 21)'],
  ['a pasted value', '{"secrets": {"API_KEY": sk_live_51HxyzSECRET}}', 'not valid JSON'],
  ['nothing', '', 'not valid JSON (it ends too early)'],
  ['an array', '[]', 'the top level must be a JSON object'],
  ['an unknown key', '{"vault": "/tmp/other.db"}', 'unknown key "vault" (allowed: "namespace", "secrets")'],
  ['a bad namespace', '{"namespace": "../prod"}', '"namespace" must be a namespace: 1-64 characters of a-z, 0-9, ".", "_" or "-", starting with a letter or digit'],
  ['a value given as a string', '{"secrets": {"API_KEY": "sk_live_51HxyzSECRET"}}', 'secret API_KEY must be an object such as { "required": true, "description": "…" }; a project file holds no values'],
  ['a value field', '{"secrets": {"API_KEY": {"value": "sk_live_51HxyzSECRET"}}}', 'secret API_KEY has "value", which a project file does not take (allowed: "required", "description"); a project file holds no values'],
  ['a default field', '{"secrets": {"API_KEY": {"default": "sk_live_51HxyzSECRET"}}}', 'secret API_KEY has "default", which a project file does not take (allowed: "required", "description"); a project file holds no values'],
  ['a bad name', '{"secrets": {"sk_live 51HxyzSECRET": {}}}', 'a key of "secrets" is not a secret name (letters, digits and "_", not starting with a digit)'],
  ['a non-boolean required', '{"secrets": {"A": {"required": "yes"}}}', '"required" of secret A must be true or false'],
];

for (const [what, text, problem] of MALFORMED) {
  test(`a project file with ${what} is exit 2, one line naming the file and the problem, never its text`, async () => {
    await withProject(text, { 'default/OTHER': 'other-1' }, async (v, repo, sub) => {
      const marker = join(v.dir, 'started');
      for (const args of [['check'], ['exec', '--', 'touch', marker], ['env']]) {
        const r = await runInProcess(args, { env: v.env, cwd: sub });
        assert.equal(r.status, 2, `${args[0]}: ${r.stderr}`);
        assert.equal(r.out, '');
        const lines = r.stderr.split('\n');
        assert.equal(lines.length, 3, r.stderr);
        assert.equal(lines[0], `vault: error: project file ${join(repo, 'vault.project.json')}: ${problem}`);
        assert.equal(lines[1], 'vault: hint: see "The project file" in the README');
        assert.ok(!r.stderr.includes('SECRET'), 'the text of the file is never echoed');
      }
      assert.equal(existsSync(marker), false);
      // get, put, list never read the project file
      const g = await runInProcess(['get', 'OTHER'], { env: v.env, cwd: sub });
      assert.equal(g.status, 0, g.stderr);
      assert.equal(g.out, 'other-1');
    });
  });
}

test('a project file that other users can write is refused (exit 2), and --ns does not read it', async () => {
  await withProject(PROJECT, { 'myapp/DATABASE_URL': 'pg', 'myapp/STRIPE_KEY': 'sk', 'default/OTHER': 'other-1' }, async (v, repo, sub) => {
    const file = join(repo, 'vault.project.json');
    chmodSync(file, 0o666);
    let r = await runVault(['exec', '--', 'true'], { env: v.env, cwd: sub });
    assert.equal(r.status, 2);
    assert.equal(r.stderr, `vault: error: project file ${file} is writable by other users (mode 666); it is not used\nvault: hint: fix it with: chmod o-w '${file}'\n`);
    r = await runVault(['exec', '--ns', 'default', '--', 'sh', '-c', 'printf %s "$OTHER"'], { env: v.env, cwd: sub });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.out, 'other-1');
  });
});
