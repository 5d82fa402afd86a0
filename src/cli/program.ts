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

/** Each command module adds its commands to the program; the order is the help order. */
/** What an action reports beyond success or a thrown error: `exec` passes on its child's status. */
export interface RunState {
  status: number;
}

export type Register = (program: Command, io: IO, state: RunState) => void;

const COMMANDS: ReadonlyArray<Register> = [
  registerInit,
  registerPut,
  registerGet,
  registerList,
  registerHistory,
  registerRm,
  registerAudit,
  registerStatus,
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
