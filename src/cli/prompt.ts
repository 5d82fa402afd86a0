import { VaultError } from '../core/errors.js';
import type { IO } from './io.js';

/**
 * Prompts, through @inquirer/prompts loaded only when a prompt is really shown (importing it
 * costs tens of milliseconds that `vault get` in a script must not pay). Prompts write to
 * stderr; Ctrl-C becomes `cancelled` (exit 130).
 */
async function inquirer(): Promise<typeof import('@inquirer/prompts')> {
  return import('@inquirer/prompts');
}

function context(io: IO): { input: NodeJS.ReadableStream; output: NodeJS.WritableStream; clearPromptOnDone: boolean } {
  return { input: io.stdin, output: io.stderr, clearPromptOnDone: false };
}

function cancelled(e: unknown): never {
  const name = (e as { name?: string }).name;
  if (name === 'ExitPromptError' || name === 'AbortPromptError') throw new VaultError('cancelled', 'cancelled');
  throw e;
}

export async function promptHidden(io: IO, message: string): Promise<Buffer> {
  const { password } = await inquirer();
  try {
    return Buffer.from(await password({ message, toggleMask: false }, context(io)), 'utf8');
  } catch (e) {
    return cancelled(e);
  }
}

/** Asks twice; a mismatch is asked again (three tries), an empty answer refused. */
export async function promptNewPassphrase(io: IO, message: string): Promise<Buffer> {
  const { password } = await inquirer();
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const first = await password({ message, toggleMask: false, validate: (v) => (v.length >= 8 ? true : 'use at least 8 characters') }, context(io));
      const second = await password({ message: 'Repeat it', toggleMask: false }, context(io));
      if (first === second) return Buffer.from(first, 'utf8');
      io.stderr.write('vault: the passphrases did not match; try again\n');
    } catch (e) {
      cancelled(e);
    }
  }
  throw new VaultError('usage', 'the passphrases did not match');
}

export async function promptConfirm(io: IO, message: string, defaultAnswer = false): Promise<boolean> {
  const { confirm } = await inquirer();
  try {
    return await confirm({ message, default: defaultAnswer }, context(io));
  } catch (e) {
    return cancelled(e);
  }
}
