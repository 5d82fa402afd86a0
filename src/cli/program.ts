import { Command, Option } from 'commander';
import type { IO } from './io.js';
/** What an action reports beyond success or a thrown error: `exec` passes on its child's status. */
export interface RunState {
  status: number;
  /** what followed the first `--` of a passthrough command (exec): its command line, untouched */
  rest?: string[];
}

export type Register = (program: Command, io: IO, state: RunState) => void;

/**
 * The command modules, in help order, with the command words each registers. A module is
 * imported only when its command runs (start-up time is paid per invocation: `vault get`
 * must not load exec, audit or rotation code); help, completion and an unknown word load all.
 */
const MODULES: ReadonlyArray<{ words: readonly string[]; load: () => Promise<Register> }> = [
  { words: ['init'], load: async () => (await import('./commands/init.js')).register },
  { words: ['put', 'set'], load: async () => (await import('./commands/put.js')).register },
  { words: ['get'], load: async () => (await import('./commands/get.js')).register },
  { words: ['list', 'ls'], load: async () => (await import('./commands/list.js')).register },
  { words: ['history', 'rollback'], load: async () => (await import('./commands/history.js')).register },
  { words: ['rm', 'delete'], load: async () => (await import('./commands/rm.js')).register },
  { words: ['mv'], load: async () => (await import('./commands/mv.js')).register },
  { words: ['edit'], load: async () => (await import('./commands/edit.js')).register },
  { words: ['rotate'], load: async () => (await import('./commands/rotate.js')).register },
  { words: ['passwd'], load: async () => (await import('./commands/passwd.js')).register },
  { words: ['key'], load: async () => (await import('./commands/key.js')).register },
  { words: ['keychain'], load: async () => (await import('./commands/keychain.js')).register },
  { words: ['exec', 'run'], load: async () => (await import('./commands/exec.js')).register },
  { words: ['env', 'export'], load: async () => (await import('./commands/env.js')).register },
  { words: ['import'], load: async () => (await import('./commands/import.js')).register },
  { words: ['check'], load: async () => (await import('./commands/check.js')).register },
  { words: ['inject'], load: async () => (await import('./commands/inject.js')).register },
  { words: ['grant'], load: async () => (await import('./commands/grant.js')).register },
  { words: ['mcp'], load: async () => (await import('./commands/mcp.js')).register },
  { words: ['scan'], load: async () => (await import('./commands/scan.js')).register },
  { words: ['audit'], load: async () => (await import('./commands/audit.js')).register },
  { words: ['accept-restore'], load: async () => (await import('./commands/accept-restore.js')).register },
  { words: ['member'], load: async () => (await import('./commands/member.js')).register },
  { words: ['identity'], load: async () => (await import('./commands/identity.js')).register },
  { words: ['status'], load: async () => (await import('./commands/status.js')).register },
  { words: ['unlock'], load: async () => (await import('./commands/unlock.js')).register },
  { words: ['lock'], load: async () => (await import('./commands/lock.js')).register },
  { words: ['completion', '__complete'], load: async () => (await import('./commands/completion.js')).register },
  { words: ['help'], load: async () => (await import('./commands/status.js')).registerHelp },
];

/** Words whose command needs every other command registered (to list or complete them). */
const NEEDS_ALL = new Set(['help', '__complete']);

/** Registers the module of `word`, or every module when the word needs them or is unknown. */
export async function addCommands(program: Command, io: IO, state: RunState, word: string | undefined): Promise<void> {
  const own = word === undefined || NEEDS_ALL.has(word) ? [] : MODULES.filter((m) => m.words.includes(word));
  const chosen = own.length > 0 ? own : MODULES;
  const registers = await Promise.all(chosen.map((m) => m.load()));
  for (const register of registers) register(program, io, state);
}

/** The program with its global options; addCommands adds the commands. */
export function buildProgram(io: IO): Command {
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
    .option('--no-session', 'do not use an unlocked session (vault unlock); also VAULT_SESSION=off')
    .addOption(new Option('--insecure-permissions', 'open a vault whose file or directory other users can read, change or own'))
    .addHelpText('after', '\nvault --version prints the version; vault help exit-codes lists the exit codes.')
    .configureHelp({ showGlobalOptions: true })
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: () => undefined,
    });
  return program;
}

/** Commands whose arguments after `--` are a command line that vault must not parse. */
const PASSTHROUGH_COMMANDS = new Set(['exec', 'run', '__complete']);

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
