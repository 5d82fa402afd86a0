/**
 * `vault scan`: finds stored values, and their encoded forms (src/exec/mask.ts
 * `encodedForms`), in files or in the staged blobs of a git repository. One pass over the
 * bytes with the Matcher that masking uses (src/exec/mask.ts, matcherFor) for every pattern of
 * every secret: its cost per byte does not grow with their number.
 *
 * What it reports never holds a value: a file, a line and a secret's name (and which form
 * matched). The Matcher necessarily holds the patterns; it lives only as long as the scan.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, statSync, writeFileSync, chmodSync, type Stats } from 'node:fs';
import { join, resolve } from 'node:path';
import { VaultError } from '../core/errors.js';
import { encodedForms, matcherFor, MIN_MASK_LENGTH, type Matcher, type MaskForm, type SplitMatcher } from '../exec/mask.js';

export interface ScanSecret {
  ns: string;
  name: string;
  value: Uint8Array;
}

export interface Finding {
  file: string;
  /** 1-based line of the staged or on-disk content where the occurrence starts */
  line: number;
  ns: string;
  name: string;
  form: MaskForm;
}

interface Owner {
  secret: number;
  form: MaskForm;
}

const CHUNK = 1 << 20;

/** The compiled patterns of a set of secrets; scans byte sources into findings. */
export class SecretScanner {
  private readonly matcher: Matcher | SplitMatcher | null;
  private readonly secrets: Array<{ ns: string; name: string }>;
  /** a pattern's text (latin1, a byte per char) to its number in `owners` */
  private readonly index = new Map<string, number>();
  private readonly owners: Owner[][] = [];
  /** names of the secrets too short to be looked for */
  readonly skipped: string[] = [];

  constructor(secrets: ScanSecret[]) {
    this.secrets = secrets.map((s) => ({ ns: s.ns, name: s.name }));
    const patterns: string[] = [];
    secrets.forEach((s, i) => {
      if (s.value.length < MIN_MASK_LENGTH) {
        this.skipped.push(s.name);
        return;
      }
      for (const f of encodedForms(s.value)) {
        let k = this.index.get(f.text);
        if (k === undefined) {
          k = patterns.length;
          this.index.set(f.text, k);
          patterns.push(f.text);
          this.owners.push([]);
        }
        if (!this.owners[k]!.some((o) => o.secret === i)) this.owners[k]!.push({ secret: i, form: f.form });
      }
    });
    this.matcher = patterns.length > 0 ? matcherFor(patterns) : null;
  }

  /**
   * Scans the chunks `read` returns (until an empty one) as the content of `file`; returns
   * each (line, secret) once, in order of line. `read` may return the same memory each time.
   */
  scanChunks(file: string, read: () => Uint8Array): Finding[] {
    const matcher = this.matcher;
    // no value long enough to look for: nothing to read
    if (matcher === null) return [];
    const found = new Map<string, Finding>();
    const hits: number[] = [];
    // The bytes from the first position the Matcher could not decide yet (a proper prefix of
    // a pattern at the end of what was read): looked at again with the next chunk.
    let held: Buffer = EMPTY_BUFFER;
    /** the line at the start of `held`, then at `at` in `data` */
    let line = 1;
    for (;;) {
      const chunk = read();
      const final = chunk.length === 0;
      const data = held.length === 0 ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length) : Buffer.concat([held, chunk]);
      hits.length = 0;
      // With `all`, every pattern that starts at a position, in order of position.
      const undecided = matcher.match(data, final, true, hits);
      let at = 0;
      for (let h = 0; h < hits.length; h += 2) {
        const start = hits[h]!;
        // found again, with what follows, in the next look
        if (start >= undecided) break;
        for (; at < start; at++) if (data[at] === 10) line++;
        const k = this.index.get(data.toString('latin1', start, start + matcher.length[hits[h + 1]!]!))!;
        for (const o of this.owners[k]!) {
          const key = `${line}\0${o.secret}`;
          if (!found.has(key)) found.set(key, { file, line, ns: this.secrets[o.secret]!.ns, name: this.secrets[o.secret]!.name, form: o.form });
        }
      }
      if (final) break;
      for (; at < undecided; at++) if (data[at] === 10) line++;
      // a copy: `read` may fill the same memory again
      held = undecided < data.length ? Buffer.from(data.subarray(undecided)) : EMPTY_BUFFER;
    }
    return [...found.values()].sort((a, b) => a.line - b.line || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  scanBuffer(file: string, data: Uint8Array): Finding[] {
    let done = false;
    return this.scanChunks(file, () => {
      if (done) return EMPTY;
      done = true;
      return data;
    });
  }
}

const EMPTY_BUFFER = Buffer.alloc(0);
const EMPTY = new Uint8Array(0);

export interface ScanReport {
  findings: Finding[];
  files: number;
  /** files that could not be read, with the reason in plain words */
  unreadable: Array<{ file: string; reason: string }>;
}

/** Plain words for the errno codes a walk meets. */
export function plainReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    case 'ENOTDIR':
      return 'not a directory';
    case 'ELOOP':
      return 'too many levels of symbolic links';
    default:
      return code ?? (e as Error).message;
  }
}

/**
 * Scans files and directories. Directories are walked in name order, skipping `.git`;
 * symbolic links met inside a walk are not followed (so nothing outside the tree is read, and
 * nothing inside it twice); a path named on the command line is followed, as `grep -r` does.
 * Only regular files are read (no FIFOs, sockets or devices). A path that does not exist is a
 * usage error; a file that cannot be read is reported and the scan goes on.
 */
export function scanPaths(scanner: SecretScanner, paths: string[], cwd: string): ScanReport {
  const report: ScanReport = { findings: [], files: 0, unreadable: [] };
  checkPaths(paths, cwd).forEach((st, i) => visit(scanner, cwd, paths[i]!, st, report));
  return report;
}

/** Refuses (usage) a path that does not exist; run it before unlocking. */
export function checkPaths(paths: string[], cwd: string): Stats[] {
  return paths.map((p) => {
    try {
      return statSync(resolve(cwd, p));
    } catch (e) {
      throw new VaultError('usage', `cannot scan ${p}: ${plainReason(e)}`);
    }
  });
}

/** The repository's top directory; usage error outside a repository. Run it before unlocking. */
export function gitTop(cwd: string, env: NodeJS.ProcessEnv): string {
  return git(['rev-parse', '--show-toplevel'], cwd, env).toString('utf8').replace(/\n$/, '');
}

function visit(scanner: SecretScanner, cwd: string, path: string, st: Stats, report: ScanReport): void {
  const full = resolve(cwd, path);
  if (st.isDirectory()) {
    let entries: string[];
    try {
      entries = readdirSync(full).sort();
    } catch (e) {
      report.unreadable.push({ file: path, reason: plainReason(e) });
      return;
    }
    for (const name of entries) {
      if (name === '.git') continue;
      const child = join(path, name);
      let cst: Stats;
      try {
        cst = lstatSync(resolve(cwd, child));
      } catch (e) {
        report.unreadable.push({ file: child, reason: plainReason(e) });
        continue;
      }
      if (cst.isSymbolicLink()) continue;
      visit(scanner, cwd, child, cst, report);
    }
    return;
  }
  if (!st.isFile()) return;
  let fd: number;
  try {
    fd = openSync(full, 'r');
  } catch (e) {
    report.unreadable.push({ file: path, reason: plainReason(e) });
    return;
  }
  try {
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(st.size, 1)));
    report.findings.push(...scanner.scanChunks(path, () => buf.subarray(0, readSync(fd, buf, 0, buf.length, null))));
    report.files++;
  } catch (e) {
    report.unreadable.push({ file: path, reason: plainReason(e) });
  } finally {
    closeSync(fd);
  }
}

// ---- git ----------------------------------------------------------------------------------

function git(args: string[], cwd: string, env: NodeJS.ProcessEnv, input?: string): Buffer {
  const r = spawnSync('git', args, { cwd, env, input, maxBuffer: 1 << 30 });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    throw new VaultError('error', code === 'ENOENT' ? 'git was not found on PATH' : `git ${args[0]} failed: ${r.error.message}`);
  }
  if (r.status !== 0) {
    const first = r.stderr.toString('utf8').split('\n').find((l) => l.trim() !== '') ?? `exit status ${r.status}`;
    if (/not a git repository/i.test(first)) throw new VaultError('usage', 'not in a git repository', { hint: 'run it inside the repository whose staged changes to check' });
    throw new VaultError('error', `git ${args[0]} failed: ${first.replace(/^fatal: /, '')}`);
  }
  return r.stdout;
}

/**
 * Scans the staged content (the index) of the files the next commit adds or changes, as
 * `git diff --cached` lists them; paths are relative to the repository's top, and lines are
 * those of the staged version. Submodules are skipped. Honours GIT_DIR / GIT_INDEX_FILE from
 * `env`, as a pre-commit hook sets them.
 */
export function scanStaged(scanner: SecretScanner, cwd: string, env: NodeJS.ProcessEnv): ScanReport {
  const top = gitTop(cwd, env);
  const raw = git(['diff', '--cached', '--raw', '-z', '--no-abbrev', '--no-renames', '--diff-filter=AM', '--no-ext-diff'], top, env).toString('utf8');
  // Records: ":<old mode> <new mode> <old sha> <new sha> <status>\0<path>\0"
  const parts = raw.split('\0');
  const blobs: Array<{ path: string; sha: string }> = [];
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const [, newMode, , sha] = parts[i]!.slice(1).split(' ');
    if (newMode === '160000') continue;
    blobs.push({ path: parts[i + 1]!, sha: sha! });
  }
  const report: ScanReport = { findings: [], files: 0, unreadable: [] };
  if (blobs.length === 0) return report;
  const out = git(['cat-file', '--batch'], top, env, blobs.map((b) => b.sha).join('\n') + '\n');
  let at = 0;
  for (const b of blobs) {
    const eol = out.indexOf(10, at);
    const header = out.subarray(at, eol).toString('latin1').split(' ');
    const size = Number(header[2]);
    if (header[1] !== 'blob' || !Number.isInteger(size)) throw new VaultError('error', `git cat-file gave no blob for ${b.path}`);
    const content = out.subarray(eol + 1, eol + 1 + size);
    at = eol + 1 + size + 1;
    report.findings.push(...scanner.scanBuffer(b.path, content));
    report.files++;
  }
  return report;
}

export const HOOK_MARKER = '# Installed by `vault scan --install-hook`';

/** Quotes a word for /bin/sh. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export function hookScript(args: string[]): string {
  return [
    '#!/bin/sh',
    `${HOOK_MARKER}: refuses a commit whose staged files hold a value stored in vault.`,
    '# Skip it once with: git commit --no-verify',
    `exec ${['vault', ...args, 'scan', '--staged'].map(shellWord).join(' ')}`,
    '',
  ].join('\n');
}

export type HookResult = 'installed' | 'updated' | 'unchanged' | 'replaced';

/**
 * Writes the repository's pre-commit hook (where `git rev-parse --git-path hooks` says, so
 * core.hooksPath and worktrees are honoured), mode 0755. A hook we wrote is rewritten (or
 * left alone when identical); anyone else's is refused unless `force`, which keeps it as
 * `pre-commit.bak`.
 */
export function installHook(cwd: string, env: NodeJS.ProcessEnv, args: string[], force: boolean): { path: string; result: HookResult } {
  const hooks = resolve(cwd, git(['rev-parse', '--git-path', 'hooks'], cwd, env).toString('utf8').replace(/\n$/, ''));
  const path = join(hooks, 'pre-commit');
  const script = hookScript(args);
  let result: HookResult = 'installed';
  if (existsSync(path)) {
    const current = readFileSync(path, 'utf8');
    if (current === script) return { path, result: 'unchanged' };
    if (current.includes(HOOK_MARKER)) result = 'updated';
    else if (!force) {
      throw new VaultError('exists', `${path} already exists and was not written by vault`, { hint: 'add `vault scan --staged` to it yourself, or use --force to replace it (the old hook is kept as pre-commit.bak)' });
    } else {
      renameSync(path, `${path}.bak`);
      result = 'replaced';
    }
  }
  mkdirSync(hooks, { recursive: true });
  writeFileSync(path, script, { mode: 0o755 });
  chmodSync(path, 0o755);
  return { path, result };
}
