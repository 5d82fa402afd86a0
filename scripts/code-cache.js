#!/usr/bin/env node
// Writes dist/cli/NAME.cache: V8's code cache of the CLI bundle NAME.cjs (main, or a command's
// own), read by bin/vault.js. Run by scripts/bundle.js (`npm run build`) right after the bundle
// is made, with its name and build id line as arguments, in a process of its own
// (V8 accepts a cache only under the flags it was made with: plain node's).
//
// V8 puts in a code cache the functions compiled so far, and compiles most functions only when
// first called. So this compiles the bundle exactly as the launcher does, then runs the commands
// that scripts run most, in this process, against a throwaway vault with a master-key slot:
// their functions are then in the cache, and a `vault get` starts without compiling them. The
// cache is made on the machine that builds, by the node that builds; another node version refuses
// it and compiles from source.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { importSecrets } from '../dist/src/core/bulk.js';
import { Vault } from '../dist/src/core/vault.js';
import { addMasterKey } from '../dist/src/unlock/slots.js';

// The bundle (main, or a command's own: see scripts/bundle.js) and the build id line that
// scripts/bundle.js ended it with: the cache's first line.
const [name, idLine] = process.argv.slice(2);
if (!/^[a-z]+$/.test(name ?? '') || !/^\/\/# vaultBuild=[0-9a-f]+$/.test(idLine ?? '')) {
  throw new Error('usage: node scripts/code-cache.js NAME "//# vaultBuild=ID" (run by scripts/bundle.js)');
}

const require = createRequire(import.meta.url);
const { loadBundle, OWN_BUNDLE } = require('../bin/vault.js');
const { exports: cli, script, file } = loadBundle(false, name);

const base = mkdtempSync(join(tmpdir(), 'vault-code-cache-'));
try {
  const path = join(base, 'vault.db');
  // A throwaway vault: its passphrase slot is never used, so its KDF is the cheapest allowed.
  const vault = await Vault.create(path, { passphrase: Buffer.from('code cache warm-up'), kdf: { name: 'scrypt', params: { N: 2 ** 14, r: 8, p: 1 } }, anchorDir: join(base, 'state', 'vault', 'anchors') });
  let key;
  try {
    key = (await addMasterKey(vault, 'warm-up')).key;
    importSecrets(vault, 'default', [{ name: 'WARM_A', value: 'value-a' }, { name: 'WARM_B', value: 'value-b' }]);
  } finally {
    vault.close();
  }
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: base, XDG_STATE_HOME: join(base, 'state'), XDG_RUNTIME_DIR: base, VAULT_PATH: path, VAULT_MASTER_KEY: key, VAULT_SESSION: 'off' };
  // A command's own bundle runs its own commands only (it has no other).
  const ALL = [
    [['get', 'WARM_A']],
    [['put', 'WARM_C'], 'value-c\n'],
    [['list']],
    [['list', '--json']],
    [['env']],
    [['export']],
    [['exec', '--', 'true']],
    [['get', 'WARM_A']],
  ];
  const commands = name === 'main' ? ALL : ALL.filter(([argv]) => OWN_BUNDLE[argv[0]] === name);
  if (commands.length === 0) throw new Error(`scripts/code-cache.js: no warm-up command for the ${name} bundle`);
  for (const [argv, input] of commands) {
    const err = [];
    const sink = (chunks) => Object.assign(new Writable({ write(c, _e, cb) { chunks.push(Buffer.from(c)); cb(); } }), { isTTY: false });
    const stdin = Object.assign(Readable.from(input === undefined ? [] : [Buffer.from(input)]), { isTTY: false });
    const status = await cli.run(argv, { stdin, stdout: sink([]), stderr: sink(err), env });
    if (status !== 0) throw new Error(`vault ${argv.join(' ')} exited ${status}: ${Buffer.concat(err).toString()}`);
  }
} finally {
  rmSync(base, { recursive: true, force: true });
}

writeFileSync(file.replace(/\.cjs$/, '.cache'), Buffer.concat([Buffer.from(`${idLine}\n`, 'latin1'), script.createCachedData()]));
