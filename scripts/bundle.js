#!/usr/bin/env node
// Bundles the CLI (our modules and commander) into ONE CommonJS file, dist/cli/main.cjs, that
// bin/vault.js loads (and, for get, list, exec and env/export, a smaller bundle of the same program with
// only that command: OWN_BUNDLES below): `vault get` is a start-up-bound command (see npm run bench), and a
// CommonJS entry skips node's ES module loader (resolution, linking and evaluation through
// promises), which cost ~9 ms per start. Each command's modules stay lazily evaluated: esbuild
// wraps every module in an init function that runs on first import(), so `vault get` compiles
// only the functions it calls (V8 parses the rest lazily). better-sqlite3's JavaScript is in the
// bundle; its native addon stays where npm built it, and db.ts hands it over by path (no
// `bindings` search, which stays external and unused). @napi-rs/keyring (a native addon),
// @inquirer/prompts (ES modules only), cli-table3 and the MCP SDK stay external, imported lazily
// with a real import() by the commands that use them. The bundle is minified and bin/vault.js
// compiles it from V8's code cache, made right after the bundle (scripts/code-cache.js).
// The library API (dist/src/index.js) is not bundled.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { build } from 'esbuild';

rmSync('dist/cli', { recursive: true, force: true });

/**
 * A built-in loaded on first use: imports of node:NAME from the modules `importer` matches
 * become an object with a getter for each of `exports` that loads the real module when first
 * read. The getters return node's own functions and objects, so the code that calls them is
 * unchanged.
 */
function lazyBuiltin(name, importer, exports) {
  const namespace = `lazy-${name}`;
  return {
    name: namespace,
    setup(b) {
      b.onResolve({ filter: new RegExp(`^(node:)?${name}$`) }, (args) => (importer.test(args.importer) ? { path: name, namespace } : undefined));
      b.onLoad({ filter: /.*/, namespace }, () => ({
        contents: `let real; const load = () => (real ??= require('node:${name}'));\n` +
          `for (const name of ${JSON.stringify(exports)}) Object.defineProperty(module.exports, name, { enumerable: true, get: () => load()[name] });\n`,
        loader: 'js',
      }));
    },
  };
}

/**
 * commander requires node:child_process at load time, for executable subcommands vault never
 * uses; loading it pulls in net, dgram, stream and readline internals. Inside commander it
 * loads only if one of the two functions commander calls is ever read.
 */
const lazyChildProcess = lazyBuiltin('child_process', /[\\/]node_modules[\\/]commander[\\/]/, ['spawn', 'execFile']);

/**
 * node:crypto, with the stream modules it loads itself, costs about 5 ms a start, and a command
 * that reads no value (`vault list`, help, completion) never calls it. Our modules import it by
 * name at their top; in the CLI bundles it loads when one of its exports is first read.
 */
const lazyCrypto = lazyBuiltin('crypto', /[\\/]dist[\\/]src[\\/]/, Object.keys(createRequire(import.meta.url)('node:crypto')));

/**
 * A module that loads a built-in lazily does it with createRequire(import.meta.url) (ES module
 * source: the library is not bundled). In a CommonJS bundle that is plain require(), and the
 * import of node:module goes: loading it also loads node's ES module loader (~0.5 ms a start).
 */
const plainRequire = {
  name: 'plain-require',
  setup(b) {
    b.onLoad({ filter: /[\\/]dist[\\/]src[\\/].*\.js$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      if (!text.includes('createRequire(import.meta.url)(')) return undefined;
      const contents = text.replaceAll('createRequire(import.meta.url)(', 'require(').replace(/^import \{ createRequire \} from 'node:module';\n/m, '');
      if (contents.includes('createRequire')) throw new Error(`${args.path}: a createRequire that plain-require cannot replace`);
      return { contents, loader: 'js' };
    });
  },
};

/**
 * The commands that scripts run on every start each get a bundle of their own as well
 * (dist/cli/NAME.cjs, with its own code cache): the same program, but every other command
 * module replaced by a stub, so a `vault get` reads, and V8 deserializes, only the code that
 * `get` can reach (208 of 343 KB, and a code cache of 283 instead of 397 KB: 2-4 ms a start).
 * Which ones: the names in bin/vault.js's OWN_BUNDLE, which picks the bundle by the command
 * word; any other word, help and completion load main.cjs, which has every command. A
 * command's module registers only its own words (src/cli/program.ts, addCommands), so for
 * those words both bundles build the same program: test/unit/bundles.test.ts holds them to
 * the same output.
 */
const OWN_BUNDLES = [...new Set(Object.values(createRequire(import.meta.url)('../bin/vault.js').OWN_BUNDLE))];

/** Every command module but `keep` (src/cli/commands/KEEP.ts), as a stub that refuses to register. */
function onlyCommands(keep) {
  return {
    name: 'only-commands',
    setup(b) {
      b.onResolve({ filter: /^\.\/commands\/[a-z-]+\.js$/ }, (args) => {
        if (!/[\\/]dist[\\/]src[\\/]cli[\\/]program\.js$/.test(args.importer)) return undefined;
        const name = args.path.slice('./commands/'.length, -'.js'.length);
        return name === keep ? undefined : { path: name, namespace: 'only-commands' };
      });
      b.onLoad({ filter: /.*/, namespace: 'only-commands' }, (args) => {
        const refuse = `() => { throw new Error('internal error: the ${args.path} command is not in this bundle'); }`;
        return { contents: `export const register = ${refuse}, registerHelp = ${refuse};\n`, loader: 'js' };
      });
    },
  };
}

for (const name of ['main', ...OWN_BUNDLES]) {
  const file = `dist/cli/${name}.cjs`;
  await build({
    entryPoints: ['dist/src/cli/main.js'],
    outfile: file,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    // @modelcontextprotocol/sdk (vault mcp only) is imported at run time by src/mcp/server.ts.
    external: ['bindings', '@napi-rs/keyring', '@inquirer/prompts', 'cli-table3', '@modelcontextprotocol/sdk'],
    plugins: name === 'main' ? [lazyChildProcess, lazyCrypto, plainRequire] : [lazyChildProcess, lazyCrypto, plainRequire, onlyCommands(name)],
    // Our modules use import.meta.url (the package version lookup, the addon path); in one
    // CommonJS file it is this file's URL.
    define: { 'import.meta.url': '__vaultBundleUrl' },
    banner: { js: "'use strict';\nconst __vaultBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
    // Smaller to read and, with the code cache (below), nothing to parse: half the start-up cost
    // of loading the bundle. Errors are reported as one line, never as a stack.
    minify: true,
    logLevel: 'warning',
  });

  // bin/vault.js compiles the bundle with node:vm (to use V8's code cache), where import() needs an
  // experimental flag on Node 20: the bundle's import() calls of external packages go through the
  // launcher's own import(), passed in as __vaultImport.
  let text = readFileSync(file, 'utf8');
  text = text.replace(/\bimport\((?=")/g, '__vaultImport(');
  if (/\bimport\(/.test(text)) throw new Error(`${file}: an import() the launcher cannot serve (not of a package name)`);
  withCodeCache(name, 'scripts/code-cache.js', text);
}

/**
 * Writes dist/cli/NAME.cjs as `text` (its content as built, by default) ended by a build id,
 * then has `script` write the code cache for exactly this build (dist/cli/NAME.cache, its first
 * line the build id), in a process of its own.
 */
function withCodeCache(name, script, text = readFileSync(`dist/cli/${name}.cjs`, 'utf8')) {
  const file = `dist/cli/${name}.cjs`;
  const idLine = `//# vaultBuild=${createHash('sha256').update(text).digest('hex').slice(0, 32)}`;
  writeFileSync(file, `${text}${idLine}\n`);
  const r = spawnSync(process.execPath, [script, name, idLine], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${script} ${name} failed (${r.status ?? r.signal})`);
}

// The session agent (src/agent/agent.ts) is its own entry: `vault unlock` starts it as
// dist/cli/agent.js, next to the bundle that spawns it (an ES module: dist/ is "type": "module").
await build({
  entryPoints: ['dist/src/agent/agent.js'],
  outfile: 'dist/cli/agent.js',
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  logLevel: 'warning',
});

/**
 * pg/lib/stream.js asks at load time whether it runs in a Cloudflare Worker, and its fallback
 * test constructs a `Response`, which makes Node load and evaluate its whole fetch
 * implementation (undici): 60-110 ms of the worker's start on this machine. In the worker
 * bundle it is the Node.js half of that file only.
 */
const nodeOnlyPgStream = {
  name: 'node-only-pg-stream',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]pg[\\/]lib[\\/]stream\.js$/ }, () => ({
      contents: "module.exports = { getStream: () => new (require('net').Socket)(), getSecureStream: (options) => require('tls').connect(options) };\n",
      loader: 'js',
    }));
  },
};

// A PostgreSQL vault's worker thread (src/store/pg/worker.ts) is its own small, minified
// bundle with `pg` inside: the thread loads one file, not the CLI bundle nor the ~30 files of
// pg and its dependencies from node_modules. pg-native and pg-cloudflare are optional
// back-ends `pg` only requires when asked for. pg-early.cjs is what bin/vault.js requires
// for a `postgres://` vault: it starts that worker before the CLI bundle loads.
await build({
  entryPoints: ['dist/src/store/pg/worker.js'],
  outfile: 'dist/cli/pg-worker.cjs',
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  minify: true,
  external: ['pg-native'],
  plugins: [nodeOnlyPgStream],
  logLevel: 'warning',
});
// The worker thread starts it through bin/vault.js's loadBundle, with its code cache
// (src/store/pg/thread.ts): loading its 87 KB in the thread took 13-14 ms of the connection's
// start, 6.5 with the cache.
withCodeCache('pg-worker', 'scripts/code-cache-worker.js');
await build({
  entryPoints: ['dist/src/store/pg/early.js'],
  outfile: 'dist/cli/pg-early.cjs',
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  minify: true,
  define: { 'import.meta.url': '__vaultBundleUrl' },
  banner: { js: "'use strict';\nconst __vaultBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
});
