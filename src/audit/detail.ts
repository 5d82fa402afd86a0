import { basename } from 'node:path';

/**
 * The `detail` of an `exec` entry: the command's basename, how many arguments followed it,
 * and the names of the secrets injected (NS/NAME). Never the arguments themselves (they may
 * hold anything, a secret too) and never the directory part of the command (a path may name
 * a user or a project; the basename is what a reviewer needs).
 *
 * `argv` is the command and its arguments as the user gave them (`vault exec -- CMD ARGS…`);
 * with `--command "…"` pass `['sh', '-c', text]`, which records `sh` and 2.
 */
export function execDetail(argv: readonly string[], names: readonly string[]): { command: string; argc: number; names: string[] } {
  const command = argv[0] === undefined ? '' : basename(argv[0]);
  return { command, argc: Math.max(0, argv.length - 1), names: [...names] };
}
