#!/usr/bin/env -S node --
import { run } from '../dist/cli/main.js';

// A closed pipe (`vault list | head -1`) ends the program quietly, as in other Unix tools.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

const status = await run(process.argv.slice(2));
process.exitCode = status;
// Exit as soon as stdout has drained. A keychain call that timed out cannot be cancelled inside
// the native module and would otherwise keep the process alive until the keychain answers.
process.stdout.write('', () => process.exit(status));
