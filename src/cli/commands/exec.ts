import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { checkExists, checkSelection, envText, parseNameList, readSecrets, toEnvironment, type ReadRequest, type Selection } from '../../core/bulk.js';
import { execDetail } from '../../audit/detail.js';
import { VaultError, errnoText } from '../../core/errors.js';
import { formatRef } from '../../core/names.js';
import { wipe } from '../../crypto/aead.js';
import { runChild } from '../../exec/child.js';
import { parseEnvFile, where, type EnvFileEntry } from '../../exec/envfile.js';
import { childEnvironment, execBaseBytes, execLimit, execStringBytes } from '../../exec/environment.js';
import { Masker, MaskPatterns } from '../../exec/mask.js';
import type { IO } from '../io.js';
import { formatError } from '../output.js';
import { chalkFor } from '../color.js';
import type { RunState } from '../program.js';
import { Session } from '../session.js';
import { projectScope, requireProject } from '../project.js';

interface ExecFlags {
  only?: string;
  prefix?: string;
  envFile?: string[];
  pristine?: boolean;
  mask?: boolean;
  allowExpired?: boolean;
  command?: string;
}

const USAGE_HINT = 'vault exec [flags] -- CMD [ARGS…], or vault exec [flags] --command "STRING"';

/** --only / --prefix as a selection (both checked). */
export function selectionFrom(flags: { only?: string; prefix?: string }): Selection {
  const select: Selection = {};
  if (flags.only !== undefined) select.only = parseNameList(flags.only);
  if (flags.prefix !== undefined) select.prefix = flags.prefix;
  return checkSelection(select);
}

export function readTextFile(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new VaultError('usage', `cannot read ${what} ${file}: ${errnoText(e)}`);
  }
}

/**
 * The child's command line: commander's operands, plus everything after `--` untouched.
 * `vault exec npm run dev -- --port 3` keeps its `--` (it belongs to npm); `vault exec -- cmd`
 * does not (it belongs to vault).
 */
function commandLine(operands: string[], rest: string[] | undefined): string[] {
  if (rest === undefined) return operands;
  return operands.length > 0 ? [...operands, '--', ...rest] : rest;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

interface Prepared {
  injected: Map<string, string>;
  /** copies of the values read from the vault, for --mask */
  maskValues: Buffer[];
}

export function register(program: Command, io: IO, state: RunState): void {
  program
    .command('exec')
    .alias('run')
    .description("run a command with the namespace's secrets in its environment")
    .usage('[options] -- CMD [ARGS…]')
    .argument('[command...]', 'the command and its arguments, after --')
    .option('--only <names>', 'only these secrets (comma-separated names)')
    .option('--prefix <prefix>', 'only secrets whose names start with this')
    .option('--env-file <file>', 'also set the variables of this dotenv file; values may be vault:// references (repeatable, later files win)', collect)
    .option('--pristine', 'start from an empty environment: only the secrets and PATH, HOME, USER, LANG, TERM')
    .option('--mask', "replace secret values (4+ bytes) and their hex, base64 and URL-encoded forms in the command's stdout and stderr with *****")
    .option('--allow-expired', 'inject expired secrets instead of refusing them')
    .option('--command <string>', 'run STRING with /bin/sh -c (arguments after -- become $1…)')
    .addHelpText('after', '\nEverything after -- goes to the command untouched: vault exec --only DB_URL -- psql -c "select 1"')
    .action(async (operands: string[], flags: ExecFlags, cmd: Command) => {
      const s = new Session(io, cmd);
      const words = commandLine(operands, state.rest);
      let file: string;
      let args: string[];
      if (flags.command !== undefined) {
        file = '/bin/sh';
        args = ['-c', flags.command, 'sh', ...words];
      } else {
        if (words.length === 0 || words[0] === '') throw new VaultError('usage', 'no command to run', { hint: USAGE_HINT });
        file = words[0]!;
        args = words.slice(1);
      }
      const scope = projectScope(s);
      const ns = scope.ns;
      const select = selectionFrom(flags);
      const fileEntries: EnvFileEntry[] = (flags.envFile ?? []).flatMap((f) => parseEnvFile(readTextFile(f, 'env file'), f, ns));
      const referring = fileEntries.filter((e) => e.ref !== undefined);
      const detail: Record<string, unknown> = execDetail([file, ...args]);
      if (flags.command !== undefined) detail.shell = true;
      const request: ReadRequest = {
        op: 'exec',
        ns,
        select,
        refs: referring.map((e) => e.ref!),
        allowExpired: flags.allowExpired === true,
        detail,
      };
      // The child's argv, inherited environment and the env files' plain variables: what the
      // secrets must fit beside (checked on stored sizes, before anything is decrypted).
      let used = execBaseBytes([file, ...args], io.env, { pristine: flags.pristine === true });
      for (const e of fileEntries) if (e.ref === undefined) used += execStringBytes(Buffer.byteLength(e.key, 'utf8'), Buffer.byteLength(e.value!, 'utf8'));
      request.envLimit = { ...execLimit((p) => readFileSync(p, 'utf8')), used };
      // Everything that can fail is decided, and the data key dropped, before the child starts.
      const prepared = await s.withVault(false, async (vault): Promise<Prepared> => {
        if (scope.project) requireProject(vault, scope.project, ns);
        checkExists(vault, request);
        await s.unlock(vault);
        return readSecrets(vault, request, (r) => {
          try {
            const injected = toEnvironment(r.secrets);
            // Env files win over the namespace for the names they set: the user named them.
            let i = 0;
            for (const entry of fileEntries) {
              if (entry.ref !== undefined) {
                const secret = r.refs[i++]!;
                injected.set(entry.key, envText(secret.value, `secret ${formatRef(secret)} (${where(entry)})`));
              } else {
                injected.set(entry.key, entry.value!);
              }
            }
            // Values marked not secret (PORT, NODE_ENV) are left alone.
            const maskValues = flags.mask ? [...r.secrets, ...r.refs].filter((x) => !x.notSecret).map((x) => Buffer.from(x.value)) : [];
            return { injected, maskValues };
          } finally {
            wipe(...r.secrets.map((x) => x.value), ...r.refs.map((x) => x.value));
          }
        });
      });

      const { env, overridden } = childEnvironment(io.env, prepared.injected, { pristine: flags.pristine === true });
      for (const name of overridden) s.warn(`${name} overrides a variable from the environment`);
      const maskValues = prepared.maskValues;
      // Compiled once for both streams (the values and their encoded forms).
      const patterns = flags.mask ? new MaskPatterns(maskValues) : undefined;
      const result = await runChild({
        file,
        args,
        env,
        terminal: s.stdinIsTTY,
        // The process's own stdout and stderr are done with a chunk once it is written.
        ...(flags.mask ? { output: { stdout: io.stdout, stderr: io.stderr, filter: () => new Masker(patterns!), releasesChunks: io.stdout === process.stdout && io.stderr === process.stderr } } : {}),
      });
      wipe(...maskValues);
      if (!result.started) {
        const err = new VaultError(result.status === 127 ? 'not-found' : 'error', result.message);
        io.stderr.write(formatError(err, { json: s.json, debug: s.opts.debug === true, chalk: await chalkFor(s.stderrColor) }));
      }
      state.status = result.status;
    });
}
