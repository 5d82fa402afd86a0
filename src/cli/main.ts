import { readFileSync } from 'node:fs';
import { CommanderError, type Command } from 'commander';
import { VaultError } from '../core/errors.js';
import { colorEnabled, processIO, type IO } from './io.js';
import { chalkFor } from './color.js';
import { suggestCommand } from './hints.js';
import { formatError, toVaultError, type ErrorStyle } from './output.js';
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
async function errorStyle(argv: string[], io: IO): Promise<ErrorStyle> {
  const before = argv.indexOf('--');
  const flags = before === -1 ? argv : argv.slice(0, before);
  const json = flags.includes('--json');
  return {
    json,
    debug: flags.includes('--debug'),
    chalk: await chalkFor(!json && colorEnabled(io.stderr, io.env, !flags.includes('--no-color'))),
  };
}

const HELP_HINT = 'vault --help lists the commands and flags';

/** Commands whose value must come from a prompt, stdin or a file: a second word is a value typed into argv. */
const VALUE_COMMANDS = new Set(['put', 'set', 'rotate']);

/**
 * A commander parse error as one VaultError: one line of message, and a hint line that takes
 * commander's "(Did you mean …?)" and adds what the mistake usually means for this command.
 */
export function usageError(e: CommanderError, program: Command, argv: string[]): VaultError {
  let text = e.message;
  let suggestion: string | undefined;
  const m = /\s*\(Did you mean (.+?)\?\)\s*$/.exec(text);
  if (m) {
    suggestion = m[1];
    text = text.slice(0, m.index);
  }
  const message = commanderMessage(text);
  const at = findCommand(program, argv);
  const word = at === -1 ? undefined : argv[at];
  if (e.code === 'commander.unknownCommand') {
    // Our own suggestion, not commander's: synonyms first (set → put, not get).
    const unknown = /unknown command '(.*)'/.exec(message)?.[1] ?? word ?? '';
    const near = suggestCommand(unknown, program);
    return new VaultError('usage', message, { hint: near ? `did you mean vault ${near}? (${HELP_HINT})` : HELP_HINT });
  }
  if (e.code === 'commander.unknownOption' && word === 'exec' && !argv.includes('--')) {
    return new VaultError('usage', message, { hint: 'put -- between vault\'s flags and the command: vault exec [flags] -- CMD [ARGS…]' });
  }
  if (e.code === 'commander.excessArguments' && word !== undefined && VALUE_COMMANDS.has(word)) {
    return new VaultError('usage', message, {
      hint: 'vault never takes a value from the command line, where other processes can read it; pipe it on stdin, use --from-file, or let vault ask. The value you typed may now be in your shell history: remove it there',
    });
  }
  return new VaultError('usage', message, { hint: suggestion ? `did you mean ${suggestion}? (${HELP_HINT})` : HELP_HINT });
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
      const err = usageError(e, program, argv);
      io.stderr.write(formatError(err, await errorStyle(argv, io)));
      return err.exitStatus;
    }
    const err = toVaultError(e);
    io.stderr.write(formatError(err, await errorStyle(argv, io)));
    return err.exitStatus;
  }
}
