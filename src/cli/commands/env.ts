import { Option, type Command } from 'commander';
import { checkExists, readSecrets, type ReadRequest } from '../../core/bulk.js';
import { VaultError, errnoText } from '../../core/errors.js';
import { formatRef } from '../../core/names.js';
import { wipe } from '../../crypto/aead.js';
import { formatDotenv, formatJson, formatShell, type FormatEntry } from '../../exec/format.js';
import { writeFileAtomic } from '../../exec/inject.js';
import type { IO } from '../io.js';
import { projectScope } from '../project.js';
import { Session } from '../session.js';
import { selectionFrom } from './exec.js';

const FORMATS = {
  dotenv: formatDotenv,
  shell: formatShell,
  json: formatJson,
} as const;

type Format = keyof typeof FORMATS;

interface EnvFlags {
  format?: string;
  only?: string;
  prefix?: string;
  allowExpired?: boolean;
  /** export only: write to this file (atomically, mode 0600) instead of stdout */
  output?: string;
}

function formatOption(description: string): Option {
  return new Option('--format <format>', description).choices(Object.keys(FORMATS));
}

/** --format, or json under --json; dotenv by default. */
function formatOf(s: Session, flags: EnvFlags): Format {
  if (flags.format === undefined) return s.json ? 'json' : 'dotenv';
  if (s.json && flags.format !== 'json') throw new VaultError('usage', `--json cannot be used with --format ${flags.format}`);
  return flags.format as Format;
}

/** `env` refuses what an environment cannot carry, naming the secret the same way `exec` does. */
function refuseNul(entries: Array<{ ns: string; name: string; value: Buffer }>): void {
  for (const e of entries) {
    if (e.value.includes(0)) {
      throw new VaultError('usage', `secret ${formatRef(e)} holds a NUL byte, which an environment variable cannot carry`, {
        hint: 'vault get prints it as exact bytes',
      });
    }
  }
}

/** Reads the selected secrets of the namespace and prints them in a format (env and export). */
async function printSecrets(io: IO, cmd: Command, op: 'env' | 'export', flags: EnvFlags): Promise<void> {
  const s = new Session(io, cmd);
  const format = formatOf(s, flags);
  const detail: Record<string, unknown> = flags.output === undefined ? { format } : { format, to: 'file' };
  const request: ReadRequest = { op, ns: projectScope(s).ns, select: selectionFrom(flags), allowExpired: flags.allowExpired === true, detail };
  const output = await s.withVault(false, async (vault) => {
    checkExists(vault, request);
    await s.unlock(vault);
    return readSecrets(vault, request, (r) => {
      try {
        if (op === 'env') refuseNul(r.secrets);
        // A resolved secret is a format entry (name, value): no second object per secret.
        const entries: FormatEntry[] = r.secrets;
        return FORMATS[format](entries);
      } finally {
        wipe(...r.secrets.map((x) => x.value));
      }
    });
  });
  if (flags.output !== undefined) {
    // As `inject -o`: a new file of mode 0600 whatever the umask, renamed over the target, so
    // the plaintext is never readable by others, not even for a moment.
    try {
      writeFileAtomic(flags.output, output);
    } catch (e) {
      throw new VaultError('error', `cannot write ${flags.output}: ${errnoText(e)}`, { cause: e });
    } finally {
      output.fill(0);
    }
    s.info(`wrote ${flags.output}`);
    return;
  }
  if (op === 'export' && s.stdoutIsTTY && output.length > 0) s.warn('printing secret values in plaintext to the terminal');
  // Zeroed once written: a stream may hold the buffer itself until then.
  try {
    await s.outFlushed(output);
  } finally {
    output.fill(0);
  }
}

const COMMANDS: ReadonlyArray<{ op: 'env' | 'export'; description: string; formats: string }> = [
  { op: 'env', description: 'print the namespace\'s secrets as variables: eval "$(vault env --format shell)"', formats: "dotenv (default), shell (export NAME='…' lines for eval) or json" },
  { op: 'export', description: "print the namespace's secrets in plaintext (the audit log records it)", formats: 'dotenv (default), shell or json' },
];

export function register(program: Command, io: IO): void {
  for (const { op, description, formats } of COMMANDS) {
    const command = program
      .command(op)
      .description(description)
      .addOption(formatOption(formats))
      .option('--only <names>', 'only these secrets (comma-separated names)')
      .option('--prefix <prefix>', 'only secrets whose names start with this')
      .option('--allow-expired', 'include expired secrets instead of refusing them');
    if (op === 'export') command.option('-o, --output <file>', 'write here (atomically, mode 0600) instead of stdout');
    command.action((flags: EnvFlags, cmd: Command) => printSecrets(io, cmd, op, flags));
  }
}
