#!/usr/bin/env node
import { run } from '../dist/src/cli/main.js';

// A closed pipe (`vault list | head -1`) ends the program quietly, as in other Unix tools.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

process.exitCode = await run(process.argv.slice(2));
