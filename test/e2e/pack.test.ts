import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { freshVault, ROOT, runCommand, tempDir } from '../helpers/cli.js';

/**
 * The published package, as a user gets it: `npm pack`, then `npm install` of the tarball into
 * an empty directory, then the installed `vault`. better-sqlite3 is native and compiles for
 * about 80 s when npm builds it, so this repository's built copy (the same version, with its
 * runtime dependency `bindings`) is put into the empty project first: npm keeps a dependency
 * that is already installed and satisfies the range, and installs the rest from its cache or
 * the registry (--prefer-offline).
 */

function npm(args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): { status: number | null; stdout: string; stderr: string } {
  // scripts/test.js keeps NODE_EXTRA_CA_CERTS from the test processes; npm may need it for the registry.
  const ca = process.env.VAULT_TEST_CA_CERTS;
  const r = spawnSync('npm', args, { cwd, env: ca ? { NODE_EXTRA_CA_CERTS: ca, ...env } : env, encoding: 'utf8', timeout: 240_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('npm pack ships only the allowlist: the launcher, the bundled CLI, the library, LICENSE, README and the threat model', () => {
  const r = npm(['pack', '--dry-run', '--json'], ROOT);
  assert.equal(r.status, 0, r.stderr);
  const [pack] = JSON.parse(r.stdout) as Array<{ files: Array<{ path: string }> }>;
  const files = pack!.files.map((f) => f.path);
  const tops = [...new Set(files.map((f) => (f.startsWith('dist/') ? f.split('/').slice(0, 2).join('/') : f)))].sort();
  assert.deepEqual(tops, ['LICENSE', 'README.md', 'bin/package.json', 'bin/vault.js', 'dist/cli', 'dist/src', 'docs/security.md', 'package.json']);
  for (const bundle of ['main', 'get', 'list', 'exec', 'env', 'pg-worker']) assert.ok(files.includes(`dist/cli/${bundle}.cjs`) && files.includes(`dist/cli/${bundle}.cache`), bundle);
  assert.ok(files.includes('dist/cli/agent.js'));
  assert.ok(files.includes('dist/src/index.js') && files.includes('dist/src/index.d.ts'));
  assert.equal(files.filter((f) => f.startsWith('dist/src/cli/') || f.startsWith('dist/test/') || f.endsWith('.db')).length, 0);
  assert.match(readFileSync(join(ROOT, 'LICENSE'), 'utf8'), /^MIT License\n/);
  assert.equal((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { license: string }).license, 'MIT');
});

test('every runtime dependency is imported by the code the package ships', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const shipped = spawnSync('sh', ['-c', 'cat dist/cli/*.js dist/cli/*.cjs bin/vault.js $(find dist/src -name "*.js" -not -path "dist/src/cli/*")'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }).stdout;
  for (const dep of Object.keys(pkg.dependencies)) {
    const escaped = dep.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    // The bundle's import() calls go through the launcher's as __vaultImport() (scripts/bundle.js).
    const used = new RegExp(`(from |import\\(|__vaultImport\\(|require\\()["']${escaped}(/[^"']*)?["']`).test(shipped);
    assert.ok(used, `${dep} is a dependency but nothing shipped imports it`);
  }
  // commander is bundled into dist/cli: a build-time dependency only
  assert.equal(/(from |import\(|require\()["']commander["']/.test(shipped), false);
});

test('the packed tarball installs into an empty directory and runs: --version, init, put, get', async () => {
  const { dir, cleanup } = tempDir('vault-pack-');
  try {
    const r = npm(['pack', '--pack-destination', dir, '--silent'], ROOT);
    assert.equal(r.status, 0, r.stderr);
    const tarball = join(dir, r.stdout.trim().split('\n').pop()!);
    const app = join(dir, 'app');
    mkdirSync(join(app, 'node_modules'), { recursive: true });
    writeFileSync(join(app, 'package.json'), '{"name":"app","private":true}\n');
    for (const dep of ['better-sqlite3', 'bindings', 'file-uri-to-path']) {
      cpSync(join(ROOT, 'node_modules', dep), join(app, 'node_modules', dep), {
        recursive: true,
        filter: (src) => !/better-sqlite3\/(deps|src)(\/|$)|build\/Release\/(obj|obj\.target|\.deps)(\/|$)|\.a$/.test(src),
      });
    }
    const install = npm(['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error', tarball], app);
    assert.equal(install.status, 0, install.stderr);

    const bin = join(app, 'node_modules', '.bin', 'vault');
    assert.equal(realpathSync(bin), join(realpathSync(app), 'node_modules', 'vault-cli', 'bin', 'vault.js'), 'the installed copy runs, not this checkout');
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    let out = await runCommand(bin, ['--version'], { cwd: app });
    assert.deepEqual([out.status, out.out, out.stderr], [0, `${version}\n`, '']);
    // init pays the shipped KDF once (there is no switch to weaken it); put and get then run on a
    // cheap vault unlocked by a master key, as the other end-to-end tests do.
    const fresh = join(dir, 'data', 'vault.db');
    out = await runCommand(bin, ['init', '--no-keychain'], { cwd: app, env: { VAULT_PATH: fresh, VAULT_PASSPHRASE: 'a passphrase for the pack test' }, timeoutMs: 120_000 });
    assert.deepEqual([out.status, out.out, out.stderr], [0, '', `created vault ${fresh}\n`]);
    // the library entry point loads from the package too (it must not need the unbundled CLI)
    out = await runCommand(process.execPath, ['--input-type=module', '-e', "const m = await import('vault-cli'); console.log(typeof m.openVault)"], { cwd: app });
    assert.deepEqual([out.status, out.out, out.stderr], [0, 'function\n', '']);
    const v = await freshVault();
    try {
      out = await runCommand(bin, ['put', 'PACKED'], { cwd: app, env: v.env, input: 'from-the-tarball\n' });
      assert.deepEqual([out.status, out.out, out.stderr], [0, '', 'stored default/PACKED version 1\n']);
      out = await runCommand(bin, ['get', 'PACKED'], { cwd: app, env: v.env });
      assert.deepEqual([out.status, out.out, out.stderr], [0, 'from-the-tarball', '']);
      // npm put better-sqlite3 beside vault-cli (hoisted): get's bundle finds its addon there by
      // path, as require() finds the package, and never asks the `bindings` package.
      const trace = join(app, 'require.txt');
      out = await runCommand(process.execPath, ['--require', join(ROOT, 'test', 'fixtures', 'trace-require.cjs'), bin, 'get', 'PACKED'], { cwd: app, env: { ...v.env, TRACE_REQUIRE_FILE: trace } });
      assert.deepEqual([out.status, out.out, out.stderr], [0, 'from-the-tarball', '']);
      const loaded = readFileSync(trace, 'utf8').split('\n').filter((l) => l.startsWith('/') && l.includes('/node_modules/'));
      assert.deepEqual(loaded.map((l) => l.slice(realpathSync(app).length)), ['/node_modules/vault-cli/bin/vault.js', '/node_modules/vault-cli/dist/cli/get.cjs', '/node_modules/better-sqlite3/build/Release/better_sqlite3.node']);
    } finally {
      v.cleanup();
    }
  } finally {
    cleanup();
  }
});
