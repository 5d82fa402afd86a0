import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { VaultError } from '../../core/errors.js';
import { formatRef, MAX_VALUE_BYTES } from '../../core/names.js';
import { notFound } from '../../core/vault.js';
import { wipe } from '../../crypto/aead.js';
import { runChild } from '../../exec/child.js';
import { childEnvironment } from '../../exec/environment.js';
import type { IO } from '../io.js';
import { Session } from '../session.js';

/** $VISUAL, else $EDITOR, else vi (as git and pass choose). */
export function editorCommand(env: NodeJS.ProcessEnv): string {
  for (const v of [env.VISUAL, env.EDITOR]) if (v !== undefined && v.trim() !== '') return v;
  return 'vi';
}

/**
 * The `sh -c` script that runs the editor. A plain command line (words and quotes, as in
 * `code --wait`) is exec'ed, so the editor replaces the shell and a signal forwarded to the
 * child (vault's SIGTERM or SIGHUP) reaches the editor itself: dash does not exec the last
 * command of `-c` on its own, and a shell killed while it waits leaves its editor running,
 * on a file vault is about to remove. A line that uses the shell (`VAR=x vim`, `;`, `|`, `$`)
 * runs as written, as git runs core.editor.
 */
export function editorScript(editor: string): string {
  const plain = /^[^;&|<>()$`\\\n*?[\]{}#!]*$/.test(editor) && !/^\s*[A-Za-z_][A-Za-z0-9_]*=/.test(editor);
  return `${plain ? 'exec ' : ''}${editor} "$@"`;
}

/**
 * A private directory for the value's file: 0700 (mkdtemp), in $XDG_RUNTIME_DIR when that is a
 * directory (a per-user tmpfs on most Linux systems), else the system's temporary directory.
 * The editor's own files (swap, backup) land beside the value and go with the directory.
 */
function privateDir(env: NodeJS.ProcessEnv): string {
  let base = tmpdir();
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime) {
    try {
      if (statSync(runtime).isDirectory()) base = runtime;
    } catch {
      // unset in effect
    }
  }
  return mkdtempSync(join(base, 'vault-edit-'));
}

/** Overwrites every regular file in the directory with zeros (best effort), then removes it. */
function shred(dir: string): void {
  try {
    const file = join(dir, 'value');
    const size = statSync(file).size;
    if (size > 0) writeFileSync(file, Buffer.alloc(size));
  } catch {
    // gone already, or not ours to overwrite: remove it anyway
  }
  rmSync(dir, { recursive: true, force: true });
}

/**
 * `vault edit NAME`: the current value in $VISUAL/$EDITOR through a 0600 file in a private 0700
 * directory, removed afterwards, also when vault fails or the editor is killed. The file holds
 * the value plus a newline; one trailing newline is dropped on the way back (as `put` does
 * with stdin), so an unchanged file is no change. A changed value is a new version (origin
 * `edit`) that keeps the secret's lifetime, as rotate does; an unchanged one stores nothing;
 * an editor that exits non-zero saves nothing.
 */
export function register(program: Command, io: IO): void {
  program
    .command('edit')
    .description('edit a secret\'s value in $VISUAL or $EDITOR (through a private 0600 file); a new version only if it changed')
    .argument('<name>', 'NAME or NS/NAME')
    .action(async (name: string, _flags: Record<string, never>, cmd: Command) => {
      const s = new Session(io, cmd);
      const ref = s.ref(name);
      const editor = editorCommand(s.env);
      await s.withVault(false, async (vault) => {
        if (!vault.findSecret(ref, false)) throw notFound(ref);
        await s.unlock(vault);
        const current = vault.get(ref, { allowExpired: true });
        const dir = privateDir(s.env);
        let edited: Buffer | null = null;
        try {
          const file = join(dir, 'value');
          const content = Buffer.concat([current.value, Buffer.from('\n')]);
          writeFileSync(file, content, { mode: 0o600, flag: 'wx' });
          wipe(content);
          // As git runs core.editor: through sh, so "code --wait" or a quoted path works.
          const { env } = childEnvironment(s.env, new Map());
          const result = await runChild({ file: '/bin/sh', args: ['-c', editorScript(editor), editor, file], env, terminal: s.stdinIsTTY });
          if (!result.started) throw new VaultError('error', `cannot run the editor: ${result.message}`);
          if (result.status !== 0) {
            throw new VaultError('error', `the editor (${editor}) exited with status ${result.status}; nothing saved`, {
              hint: 'set VISUAL or EDITOR to the editor to use',
            });
          }
          let size: number;
          try {
            size = statSync(file).size;
          } catch {
            throw new VaultError('error', 'the editor removed the file; nothing saved');
          }
          if (size > MAX_VALUE_BYTES + 1) throw new VaultError('usage', `value is ${size} bytes, more than the 1 MiB limit; nothing saved`);
          edited = readFileSync(file);
        } finally {
          shred(dir);
        }
        try {
          let value = edited;
          if (value.length > 0 && value[value.length - 1] === 0x0a) value = value.subarray(0, value.length - 1);
          if (value.length === 0) throw new VaultError('usage', `the edited value of ${formatRef(ref)} is empty; nothing saved`, { hint: `vault rm ${formatRef(ref)} removes a secret` });
          if (value.equals(current.value)) {
            if (s.json) s.outJson({ ns: ref.ns, name: ref.name, version: current.version, changed: false });
            else s.info(`${formatRef(ref)} is unchanged; nothing saved`);
            return;
          }
          const { version } = vault.edit(ref, current.version, value);
          if (s.json) s.outJson({ ns: ref.ns, name: ref.name, version, changed: true });
          else s.info(`stored ${formatRef(ref)} version ${version}`);
        } finally {
          wipe(edited, current.value);
        }
      });
    });
}
