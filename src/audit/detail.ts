import { basename } from 'node:path';

/**
 * The command part of an `exec` entry's `detail`: the command's basename and how many
 * arguments followed it (the bulk read adds the names of the secrets injected). Never the arguments themselves (they may
 * hold anything, a secret too) and never the directory part of the command (a path may name
 * a user or a project; the basename is what a reviewer needs).
 *
 * `argv` is the command and its arguments as the user gave them (`vault exec -- CMD ARGS…`);
 * with `--command "…"` pass `['sh', '-c', text]`, which records `sh` and 2.
 */
export function execDetail(argv: readonly string[]): { command: string; argc: number } {
  const command = argv[0] === undefined ? '' : basename(argv[0]);
  return { command, argc: Math.max(0, argv.length - 1) };
}
