import { readFileSync } from 'node:fs';
import { CommanderError } from 'commander';
import { VaultError } from '../core/errors.js';
import { colorEnabled, processIO, type IO } from './io.js';
import { formatError, toVaultError } from './output.js';
import { addCommands, buildProgram, findCommand, splitPassthrough, type RunState } from './program.js';

// For the launcher (bin/vault.js), which loads only this bundle.
export { processIO } from './io.js';
export { takeSecretVariables } from './environ.js';

/** The version in our package.json, found upwards from this file (bundled or not). */
function packageVersion(): string {
  for (let dir = new URL('.', import.meta.url); dir.pathname !== '/'; dir = new URL('..', dir)) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as { name?: string; version: string };
      if (pkg.name === 'vault-cli') return pkg.version;
    } catch {
      // not here: go up
    }
  }
  return 'unknown';
}

/** Flags that shape how an error is printed, read straight from argv: they must work even when parsing failed. */
function errorStyle(argv: string[], io: IO): { json: boolean; debug: boolean; color: boolean } {
  const before = argv.indexOf('--');
  const flags = before === -1 ? argv : argv.slice(0, before);
  return {
    json: flags.includes('--json'),
    debug: flags.includes('--debug'),
    color: colorEnabled(io.stderr, io.env, !flags.includes('--no-color')),
  };
}

/**
 * Commander's messages in our style (SPEC §9: lowercase, one line, no trailing period):
 * "error: option '--kdf <kdf>' argument 'x' is invalid. Allowed choices are a, b." becomes
 * "option '--kdf <kdf>' argument 'x' is invalid; allowed choices are a, b".
 */
export function commanderMessage(text: string): string {
  return text
    .replace(/^error: /, '')
    .replace(/\.\s+([A-Z])/g, (_m, c: string) => `; ${c.toLowerCase()}`)
    .replace(/\.$/, '');
}

/**
 * The one top-level catch: runs the command, maps every error to its exit status
 * (SPEC §8) and prints it by the rules of SPEC §9. Returns the exit status; never exits.
 */
export async function run(argv: string[], io: IO = processIO()): Promise<number> {
  const state: RunState = { status: 0 };
  // `--version` is handled here, not by commander: commander would also take it from
  // `vault get NAME --version 2`, where it belongs to get.
  const program = buildProgram(io);
  const command = findCommand(program, argv);
  if (argv.slice(0, command === -1 ? argv.length : command).includes('--version')) {
    io.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  await addCommands(program, io, state, command === -1 ? undefined : argv[command]);
  if (argv.length === 0) {
    program.outputHelp({ error: true });
    return 2;
  }
  try {
    const split = splitPassthrough(program, argv);
    if (split.rest) state.rest = split.rest;
    await program.parseAsync(split.argv, { from: 'user' });
    return state.status;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      const message = commanderMessage(e.message);
      const err = new VaultError('usage', message, { hint: 'vault --help lists the commands and flags' });
      io.stderr.write(formatError(err, errorStyle(argv, io)));
      return err.exitStatus;
    }
    const err = toVaultError(e);
    io.stderr.write(formatError(err, errorStyle(argv, io)));
    return err.exitStatus;
  }
}
