#!/usr/bin/env -S node --inspect-port=[ff02::1]:9229 --
// CommonJS (bin/package.json): no ES module loader at start-up, see scripts/bundle.js.
// Before anything else: Node opens its inspector (a debugger that reads and changes this
// process's memory) on 127.0.0.1:9229 when it gets SIGUSR1 and no JavaScript listener for
// SIGUSR1 is installed. Supervisors send SIGUSR1 on purpose (`vault exec` forwards it), so
// vault keeps a listener for the whole run: outside `exec` the signal is ignored, inside it
// src/exec/child.ts adds its own listener that forwards it. For the moment before this line
// runs, the shebang points the inspector at [ff02::1]:9229, an address no socket can be bound
// to (link-local multicast without a scope): the inspector fails to start instead of listening.
'use strict';
/**
 * The command words with a bundle of their own, and its name: the command's module (src/cli/
 * commands/NAME.ts), alone in dist/cli/NAME.cjs. scripts/bundle.js builds one for each name
 * here; bundleFor below picks it.
 */
const OWN_BUNDLE = { get: 'get', list: 'list', ls: 'list', exec: 'exec', run: 'exec', env: 'env', export: 'env' };

if (require.main === module) main();
// scripts/code-cache.js compiles the bundle the same way to write its code cache.
else module.exports = { loadBundle, bundleFor, OWN_BUNDLE };

function main() {
  process.on('SIGUSR1', () => {});

  // A PostgreSQL vault: its worker thread starts connecting now, on the other core, while this
  // one loads the CLI bundle (src/store/pg/early.ts). The vault is the last --vault before `--`,
  // else VAULT_PATH, as the CLI reads them; a file vault loads nothing more here.
  const location = vaultLocation(process.argv.slice(2)) ?? process.env.VAULT_PATH;
  if (location !== undefined && /^postgres(ql)?:\/\//i.test(location)) require('../dist/cli/pg-early.cjs').start(location);

  const { run, processIO, takeSecretVariables } = loadBundle(true, bundleFor(process.argv.slice(2))).exports;

  // The master key and passphrases leave process.env (and the kernel's copy of the environment,
  // which /proc/PID/environ shows to other processes of this user) and reach the CLI only in
  // the env object it is given.
  const secrets = takeSecretVariables(process.env);

  // A closed pipe (`vault list | head -1`) ends the program quietly, as in other Unix tools. The
  // handler goes on process.stdout when the CLI first asks for the stream: `vault get` in a
  // script writes its value without one (src/cli/io.ts, directStdout).
  const io = processIO({ ...process.env, ...secrets }, {
    stdoutMade: (stdout) =>
      stdout.on('error', (e) => {
        if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
        throw e;
      }),
  });

  run(process.argv.slice(2), io).then((status) => {
    process.exitCode = status;
    // Exit as soon as stdout has drained. A keychain call that timed out cannot be cancelled inside
    // the native module and would otherwise keep the process alive until the keychain answers.
    io.afterStdout(() => process.exit(status));
  });
}

function vaultLocation(argv) {
  let found;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') break;
    if (a === '--vault') found = argv[++i];
    else if (a.startsWith('--vault=')) found = a.slice('--vault='.length);
  }
  return found;
}

/**
 * The bundle for argv. The commands scripts run on every start have a bundle of their own,
 * with only the code that command can reach (OWN_BUNDLE, built by scripts/bundle.js): less to read and
 * to deserialize. Any other command, help, completion, and no command at all load main.cjs,
 * which has them all. The command word is found as the CLI finds it (src/cli/program.ts,
 * findCommand: the first word that is neither a global flag nor the value of --vault or --ns,
 * before any `--`; test/unit/bundles.test.ts holds the two to the same answers).
 */
function bundleFor(argv) {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') break;
    if (a === '--vault' || a === '--ns') i++;
    else if (!a.startsWith('-')) return Object.hasOwn(OWN_BUNDLE, a) ? OWN_BUNDLE[a] : 'main';
  }
  return 'main';
}

/**
 * Loads a CLI bundle, dist/cli/NAME.cjs, as require() would, but compiled with V8's code
 * cache when the build left one for this very bundle (dist/cli/NAME.cache, see
 * scripts/code-cache.js): V8 then skips parsing and compiling the functions a command runs.
 * The cache is used only when its first line names the build id that ends the bundle; V8
 * itself refuses one made by another V8 version or with other flags (then it compiles from
 * source, as require() does). Nothing is ever written here: the cache is part of the build,
 * as trusted as the bundle beside it.
 *
 * The bundle's import() calls (of ES-module-only packages, loaded lazily) go through
 * __vaultImport, this file's own import(): a script compiled by node:vm cannot import() on
 * Node 20 without an experimental flag. Both resolve from the package's node_modules.
 */
function loadBundle(useCache = true, name = 'main') {
  const { readFileSync } = require('node:fs');
  const { dirname, join } = require('node:path');
  const { Script } = require('node:vm');
  // require('node:module') would also load node's ES module loader (~0.5 ms): this is the class.
  const Module = module.constructor;
  const file = join(__dirname, '..', 'dist', 'cli', `${name}.cjs`);
  const source = readFileSync(file, 'utf8');
  let cachedData;
  if (useCache) {
    try {
      const cache = readFileSync(join(dirname(file), `${name}.cache`));
      const eol = cache.indexOf(10);
      if (eol > 0 && source.endsWith(`\n${cache.toString('latin1', 0, eol)}\n`)) cachedData = cache.subarray(eol + 1);
    } catch {
      // no cache: compiled from source
    }
  }
  const script = new Script(`(function (exports, require, module, __filename, __dirname, __vaultImport) {${source}\n})`, { filename: file, cachedData });
  const mod = new Module(file, module);
  mod.filename = file;
  // Registered as require() would: a later require() of the bundle gets this module.
  require.cache[file] = mod;
  script.runInThisContext()(mod.exports, Module.createRequire(file), mod, file, dirname(file), (specifier) => import(specifier));
  mod.loaded = true;
  return { exports: mod.exports, script, file };
}
