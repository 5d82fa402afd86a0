import { Command, Option } from 'commander';
import type { IO } from './io.js';
import { register as registerAudit } from './commands/audit.js';
import { register as registerGet } from './commands/get.js';
import { register as registerHistory } from './commands/history.js';
import { register as registerInit } from './commands/init.js';
import { register as registerList } from './commands/list.js';
import { register as registerPut } from './commands/put.js';
import { register as registerRm } from './commands/rm.js';
import { register as registerStatus, registerHelp } from './commands/status.js';
import { register as registerRotate } from './commands/rotate.js';
import { register as registerPasswd } from './commands/passwd.js';
import { register as registerKey } from './commands/key.js';
import { register as registerKeychain } from './commands/keychain.js';
import { register as registerExec } from './commands/exec.js';
import { register as registerEnv } from './commands/env.js';
import { register as registerImport } from './commands/import.js';
import { register as registerInject } from './commands/inject.js';
import { register as registerCompletion } from './commands/completion.js';

/** What an action reports beyond success or a thrown error: `exec` passes on its child's status. */
export interface RunState {
  status: number;
  /** what followed the first `--` of a passthrough command (exec): its command line, untouched */
  rest?: string[];
}

export type Register = (program: Command, io: IO, state: RunState) => void;

/** Each command module adds its commands to the program; the order is the help order. */
const COMMANDS: ReadonlyArray<Register> = [
  registerInit,
  registerPut,
  registerGet,
  registerList,
  registerHistory,
  registerRm,
  registerRotate,
  registerPasswd,
  registerKey,
  registerKeychain,
  registerExec,
  registerEnv,
  registerImport,
  registerInject,
  registerAudit,
  registerStatus,
  registerCompletion,
  registerHelp,
];

export function buildProgram(io: IO, state: RunState): Command {
  const program = new Command('vault');
  program
    .description('a local secret vault: encrypted secrets for developers, scripts and CI')
    .helpCommand(false)
    .option('--vault <path>', 'the vault file (default: $VAULT_PATH or the platform data directory)')
    .option('--ns <ns>', 'the namespace (default: $VAULT_NS or "default")')
    .option('--json', 'JSON output (errors too, on stderr)')
    .option('--no-input', 'never prompt')
    .option('--no-color', 'no colour')
    .option('--quiet', 'no messages on stderr other than errors')
    .option('--debug', 'stack traces on errors')
    .addOption(new Option('--insecure-permissions', 'open a vault file that other users can read'))
    .addHelpText('after', '\nvault --version prints the version; vault help exit-codes lists the exit codes.')
    .configureHelp({ showGlobalOptions: true })
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: () => undefined,
    });
  for (const register of COMMANDS) register(program, io, state);
  for (const cmd of program.commands) cmd.exitOverride().configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s), outputError: () => undefined });
  return program;
}

/** Commands whose arguments after `--` are a command line that vault must not parse. */
const PASSTHROUGH_COMMANDS = new Set(['exec', '__complete']);

/**
 * The index of the command word in argv, found the way commander finds it: the first word that
 * is neither a global flag nor a global flag's value, before any `--`. -1 when there is none.
 */
export function findCommand(program: Command, argv: string[]): number {
  const takesValue = new Set(program.options.filter((o) => o.required || o.optional).flatMap((o) => [o.long, o.short].filter((f): f is string => !!f)));
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') return -1;
    if (takesValue.has(word)) i++;
    else if (!word.startsWith('-')) return i;
  }
  return -1;
}

/**
 * For `vault … exec … -- CMD ARGS`, cuts argv at the first `--` so that commander never sees
 * CMD's arguments (it would otherwise take `--json`, `-n` or `--only` from them, since it
 * drops the `--` before handing the rest to a subcommand).
 */
export function splitPassthrough(program: Command, argv: string[]): { argv: string[]; rest?: string[] } {
  const dashes = argv.indexOf('--');
  const command = findCommand(program, argv);
  if (dashes === -1 || command === -1 || !PASSTHROUGH_COMMANDS.has(argv[command]!)) return { argv };
  return { argv: argv.slice(0, dashes), rest: argv.slice(dashes + 1) };
}
