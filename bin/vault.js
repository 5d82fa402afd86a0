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
process.on('SIGUSR1', () => {});

// A PostgreSQL vault: its worker thread starts connecting now, on the other core, while this
// one loads the CLI bundle (src/store/pg/early.ts). The vault is the last --vault before `--`,
// else VAULT_PATH, as the CLI reads them; a file vault loads nothing more here.
const location = vaultLocation(process.argv.slice(2)) ?? process.env.VAULT_PATH;
if (location !== undefined && /^postgres(ql)?:\/\//i.test(location)) require('../dist/cli/pg-early.cjs').start(location);

const { run, processIO, takeSecretVariables } = require('../dist/cli/main.cjs');

// The master key and passphrases leave process.env (and the kernel's copy of the environment,
// which /proc/PID/environ shows to other processes of this user) and reach the CLI only in
// the env object it is given.
const secrets = takeSecretVariables(process.env);

// A closed pipe (`vault list | head -1`) ends the program quietly, as in other Unix tools.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

run(process.argv.slice(2), { ...processIO(), env: { ...process.env, ...secrets } }).then((status) => {
  process.exitCode = status;
  // Exit as soon as stdout has drained. A keychain call that timed out cannot be cancelled inside
  // the native module and would otherwise keep the process alive until the keychain answers.
  process.stdout.write('', () => process.exit(status));
});

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
