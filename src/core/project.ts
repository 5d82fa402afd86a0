import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { VaultError } from './errors.js';
import { isValidName, isValidNamespace } from './names.js';

/**
 * The project file (README, "The project file"): `vault.project.json`, found by walking up
 * from the working directory, names the namespace a repository uses and the secrets it needs.
 * It lives in a repository that others may write, so it is treated as hostile input: it may
 * only choose a namespace and list names; it holds no value, no path, no command, and nothing
 * in it can make vault read, print or send a value (docs/security.md, "The project file").
 */

export const PROJECT_FILE = 'vault.project.json';

/** A project file larger than this is refused: a list of names is a few kilobytes. */
const MAX_PROJECT_BYTES = 64 * 1024;
const MAX_SECRETS = 1000;
const MAX_DESCRIPTION = 500;

export interface ProjectSecret {
  name: string;
  required: boolean;
  description: string | null;
}

export interface Project {
  /** the file's absolute path */
  file: string;
  /** the namespace it names, or null (then the usual one: $VAULT_NS or default) */
  namespace: string | null;
  /** in file order */
  secrets: ProjectSecret[];
}

function malformed(file: string, problem: string): VaultError {
  return new VaultError('usage', `project file ${file}: ${problem}`, { hint: 'see "The project file" in the README' });
}

const TOP_KEYS = new Set(['namespace', 'secrets']);
const SECRET_KEYS = new Set(['required', 'description']);

/**
 * Parses and checks a project file's text. Anything unexpected is refused (usage, naming the
 * file and the problem, never quoting a value from it): unknown keys (a `value` or `default`
 * field, a secret given as a string) are refused because a file that looks like it carries
 * values must not be accepted as if it did not.
 */
export function parseProject(text: string, file: string): Project {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    // V8's message quotes the text around the error, which may be a pasted value: only the place.
    const at = /at position (\d+)/.exec((e as Error).message);
    let where = '';
    if (at) {
      const before = text.slice(0, Number(at[1]));
      where = ` (at line ${before.split('\n').length}, column ${before.length - before.lastIndexOf('\n')})`;
    } else if (/end of JSON input/.test((e as Error).message)) {
      where = ' (it ends too early)';
    }
    throw malformed(file, `not valid JSON${where}`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw malformed(file, 'the top level must be a JSON object');
  const top = data as Record<string, unknown>;
  for (const key of Object.keys(top)) {
    if (!TOP_KEYS.has(key)) throw malformed(file, `unknown key ${JSON.stringify(key)} (allowed: "namespace", "secrets")`);
  }
  let namespace: string | null = null;
  if (top.namespace !== undefined) {
    if (typeof top.namespace !== 'string' || !isValidNamespace(top.namespace)) {
      throw malformed(file, '"namespace" must be a namespace: 1-64 characters of a-z, 0-9, ".", "_" or "-", starting with a letter or digit');
    }
    namespace = top.namespace;
  }
  const secrets: ProjectSecret[] = [];
  if (top.secrets !== undefined) {
    if (typeof top.secrets !== 'object' || top.secrets === null || Array.isArray(top.secrets)) {
      throw malformed(file, '"secrets" must be an object of NAME: { "required": …, "description": … }');
    }
    const entries = Object.entries(top.secrets as Record<string, unknown>);
    if (entries.length > MAX_SECRETS) throw malformed(file, `more than ${MAX_SECRETS} secrets`);
    for (const [name, spec] of entries) {
      // The name is shown only when it is a valid name: anything else might be a pasted value.
      if (!isValidName(name)) throw malformed(file, `a key of "secrets" is not a secret name (letters, digits and "_", not starting with a digit)`);
      if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
        throw malformed(file, `secret ${name} must be an object such as { "required": true, "description": "…" }; a project file holds no values`);
      }
      const fields = spec as Record<string, unknown>;
      for (const key of Object.keys(fields)) {
        if (!SECRET_KEYS.has(key)) {
          const shown = /^[A-Za-z_][A-Za-z0-9_-]{0,40}$/.test(key) ? JSON.stringify(key) : 'a key';
          throw malformed(file, `secret ${name} has ${shown}, which a project file does not take (allowed: "required", "description"); a project file holds no values`);
        }
      }
      if (fields.required !== undefined && typeof fields.required !== 'boolean') throw malformed(file, `"required" of secret ${name} must be true or false`);
      if (fields.description !== undefined && (typeof fields.description !== 'string' || fields.description.length > MAX_DESCRIPTION)) {
        throw malformed(file, `"description" of secret ${name} must be a string of at most ${MAX_DESCRIPTION} characters`);
      }
      secrets.push({ name, required: fields.required !== false, description: (fields.description as string | undefined) ?? null });
    }
  }
  return { file, namespace, secrets };
}

function isGitRoot(dir: string): boolean {
  try {
    statSync(join(dir, '.git'));
    return true;
  } catch {
    return false;
  }
}

/**
 * Walks up from `cwd` to the first directory holding PROJECT_FILE, and no further than the
 * root of the git repository `cwd` is in (the directory holding `.git`), or the filesystem
 * root outside a repository. Returns the parsed file or null when there is none.
 * Refused (usage): a file that is not a regular file, larger than 64 KiB, owned by another
 * user than this one or root, or writable by others (as git refuses a repository of another
 * user): in a shared directory such as /tmp, another user could otherwise choose the
 * namespace of your `vault exec`.
 */
export function findProject(cwd: string, uid: number | null = process.getuid?.() ?? null): Project | null {
  let dir = cwd;
  for (;;) {
    const file = join(dir, PROJECT_FILE);
    const found = readProjectFile(file, uid);
    if (found !== null) return parseProject(found, file);
    const parent = dirname(dir);
    if (parent === dir || isGitRoot(dir)) return null;
    dir = parent;
  }
}

/** The file's text; null when there is no such file. */
function readProjectFile(file: string, uid: number | null): string | null {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    if (code === 'EACCES') throw malformed(file, 'permission denied');
    if (code === 'ELOOP') throw malformed(file, 'too many levels of symbolic links');
    throw malformed(file, `cannot be read (${code ?? (e as Error).message})`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw malformed(file, 'not a regular file');
    if (uid !== null && st.uid !== uid && st.uid !== 0) {
      throw new VaultError('usage', `project file ${file} is owned by another user (uid ${st.uid}); it is not used`, {
        hint: 'a project file chooses the namespace of vault exec: only yours (or root\'s) is trusted; remove it, or run vault with --ns',
      });
    }
    if ((st.mode & 0o002) !== 0) {
      throw new VaultError('usage', `project file ${file} is writable by other users (mode ${(st.mode & 0o777).toString(8)}); it is not used`, {
        hint: `fix it with: chmod o-w '${file}'`,
      });
    }
    if (st.size > MAX_PROJECT_BYTES) throw malformed(file, `larger than ${MAX_PROJECT_BYTES / 1024} KiB`);
    const buf = Buffer.alloc(st.size);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, got);
      if (n === 0) break;
      got += n;
    }
    const text = buf.subarray(0, got).toString('utf8');
    // A BOM from an editor is not an error.
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  } finally {
    closeSync(fd);
  }
}

/** What `vault check` and `vault exec` compare: each declared secret's state in the namespace. */
export interface ProjectCheck {
  ns: string;
  secrets: Array<ProjectSecret & { present: boolean; expired: boolean }>;
  /** required secrets that are not present */
  missing: string[];
  /** required secrets present but expired */
  expired: string[];
}

/** Compares the declared secrets with the current ones (`current`: name → expired). */
export function checkProject(project: Project, ns: string, current: Map<string, boolean>): ProjectCheck {
  const secrets = project.secrets.map((s) => ({ ...s, present: current.has(s.name), expired: current.get(s.name) === true }));
  return {
    ns,
    secrets,
    missing: secrets.filter((s) => s.required && !s.present).map((s) => s.name),
    expired: secrets.filter((s) => s.required && s.expired).map((s) => s.name),
  };
}
