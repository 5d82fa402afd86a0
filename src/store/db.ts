import { closeSync, constants, existsSync, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readSync, rmSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import type { Database } from 'better-sqlite3';
import { VaultError } from '../core/errors.js';
import { checkSidecar, checkSidecars, checkVaultDirectory, chownHint, currentUser, modeText, shellQuote, SIDECARS } from './paths.js';
import { MIGRATIONS, SCHEMA_VERSION } from './schema.js';

export type { Database };

let addonPath: string | null | undefined;

/**
 * better-sqlite3's native addon, by path: without one it asks the `bindings` package, which
 * probes a dozen candidate paths (and walks a stack trace) on every start. The package is
 * found as require() finds it, in the node_modules of this file's directory and then of each
 * one above, by stat alone (require.resolve reads package.json files: ~1.4 ms here). Undefined
 * (let better-sqlite3 search) when its addon is not where a normal install puts it.
 */
function nativeBinding(): string | undefined {
  if (addonPath === undefined) {
    addonPath = null;
    for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
      // The first package found is the one require() would load; its addon or none.
      const pkg = join(dir, 'node_modules', 'better-sqlite3');
      if (basename(dir) !== 'node_modules' && existsSync(join(pkg, 'package.json'))) {
        const path = join(pkg, 'build', 'Release', 'better_sqlite3.node');
        if (existsSync(path)) addonPath = path;
        break;
      }
      if (dirname(dir) === dir) break;
    }
  }
  return addonPath ?? undefined;
}

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');
const BUSY_TIMEOUT_MS = 5000;

export interface OpenOptions {
  /**
   * accept a vault file, directory or -wal/-shm that other users can read or write, or that
   * another user owns (SPEC §2 --insecure-permissions). Symbolic links are refused regardless.
   */
  insecurePermissions?: boolean;
  readonly?: boolean;
}

// O_NOFOLLOW: the vault file itself is never reached through a symbolic link. O_NONBLOCK: a
// FIFO planted at the path cannot hang the open (it is refused as not a regular file).
// Both are 0 where the platform lacks them (Windows).
const OPEN_CHECK = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

/**
 * Creates the directory (0700) and an empty file (0600) before SQLite touches the path, so
 * the database, and the -wal/-shm files SQLite gives the same mode, are never readable by
 * others, not even for a moment. Fails with `exists` when a file is already there, and
 * refuses a directory that already existed and that others can write (see checkVaultDirectory).
 */
export function createVaultFile(path: string, options: Pick<OpenOptions, 'insecurePermissions'> = {}): Database {
  const insecure = options.insecurePermissions === true;
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  checkVaultDirectory(dirname(path), insecure);
  // A -wal left from an earlier vault at this path would be replayed into the new, empty file.
  for (const suffix of SIDECARS) {
    if (lstatOrNull(path + suffix) !== null) {
      throw new VaultError('error', `${path}${suffix} is left from an earlier vault`, {
        hint: `remove it while no vault process runs: rm ${shellQuote(path + suffix)}`,
      });
    }
  }
  let fd: number;
  try {
    // O_EXCL fails on an existing name, a symbolic link included.
    fd = openSync(path, constants.O_CREAT | constants.O_EXCL | constants.O_RDWR, 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new VaultError('exists', `a vault already exists at ${path}`, {
        hint: 'use it, or choose another path with --vault',
      });
    }
    throw new VaultError('error', `cannot create ${path}: ${(e as Error).message}`, { cause: e });
  }
  const created = identity(fstatSync(fd));
  let db: Database | undefined;
  try {
    db = connectChecked(path, fd, false, true, insecure);
    migrate(db, path);
    return db;
  } catch (e) {
    db?.close();
    // Nothing half-made may stay behind to block a retry with `exists`; a file someone put
    // in its place is left alone.
    const st = lstatOrNull(path);
    if (st !== null && identity(st) === created) rmSync(path, { force: true });
    throw e;
  }
}

/** Opens an existing vault file: permission check, format check, migration. */
export function openVaultFile(path: string, options: OpenOptions = {}): Database {
  const insecure = options.insecurePermissions === true;
  if (lstatOrNull(path)?.isSymbolicLink()) throw symlinked(path);
  let fd: number;
  try {
    fd = openSync(path, OPEN_CHECK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new VaultError('not-initialized', `no vault at ${path}`, { hint: 'create one with: vault init' });
    }
    // The name became a link after the lstat above (ELOOP on Linux and macOS, EMLINK on FreeBSD).
    if (code === 'ELOOP' || code === 'EMLINK') throw symlinked(path);
    throw new VaultError('error', `cannot open ${path}: ${(e as Error).message}`, { cause: e });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new VaultError('error', `${path} is not a regular file`);
    checkVaultDirectory(dirname(path), insecure);
    const me = currentUser();
    if (me !== undefined && !insecure) {
      if (st.uid !== me.uid) {
        throw new VaultError('error', `vault file ${path} is owned by another user (uid ${st.uid})`, {
          hint: chownHint(me, st.uid, path, (st.mode & 0o077) !== 0 ? '600' : undefined),
        });
      }
      if ((st.mode & 0o077) !== 0) {
        throw new VaultError('error', `vault file ${path} is readable by other users (mode ${modeText(st.mode & 0o777)})`, {
          hint: `fix it with: chmod 600 ${shellQuote(path)}`,
        });
      }
    }
    checkSidecars(path, insecure);
    const head = Buffer.alloc(SQLITE_MAGIC.length);
    const n = readSync(fd, head, 0, head.length, 0);
    if (n < head.length || !head.equals(SQLITE_MAGIC)) throw notAVault(path);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  let db: Database | undefined;
  try {
    db = connectChecked(path, fd, options.readonly ?? false, false, insecure);
    migrate(db, path);
    return db;
  } catch (e) {
    db?.close();
    throw asStoreError(e, path);
  }
}

function symlinked(path: string): VaultError {
  return new VaultError('error', `vault file ${path} is a symbolic link`, {
    hint: 'give the path of the vault file itself, not of a link to it',
  });
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

const identity = (st: Stats): string => `${st.dev}:${st.ino}`;

/**
 * The regular files this process holds open, by descriptor, as dev:ino; null where the
 * platform has no descriptor listing (/proc/self/fd on Linux, /dev/fd on macOS and the BSDs).
 */
function openFiles(): Map<number, string> | null {
  const dir = process.platform === 'linux' ? '/proc/self/fd' : process.platform === 'win32' ? null : '/dev/fd';
  if (dir === null) return null;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return null;
  }
  const out = new Map<number, string>();
  for (const name of names) {
    const fd = Number(name);
    if (!Number.isInteger(fd)) continue;
    try {
      const st = fstatSync(fd);
      if (st.isFile()) out.set(fd, identity(st));
    } catch {
      // the listing's own descriptor, closed by now
    }
  }
  return out;
}

/**
 * Gives each -wal/-shm a known identity before SQLite opens it: one that exists is opened
 * without following a link and checked on its descriptor; one that does not is created here,
 * empty, 0600, with O_EXCL, so that nobody else holds a descriptor on it (a file planted by
 * someone else would be opened by SQLite, fixed up to look like ours, and read through the
 * planter's descriptor). Nothing is created for a read-only connection.
 * Descriptors are closed at once: closing a descriptor drops every POSIX lock this process
 * holds on that file, so none of ours may outlive SQLite's first lock on it.
 */
function prepareSidecars(path: string, readonly: boolean, insecure: boolean): { ids: Map<string, string>; created: Map<string, string> } {
  const ids = new Map<string, string>();
  const created = new Map<string, string>();
  try {
    for (const suffix of SIDECARS) {
      const p = path + suffix;
      let fd: number | undefined;
      if (!readonly) {
        try {
          fd = openSync(p, constants.O_CREAT | constants.O_EXCL | constants.O_RDWR | (constants.O_NOFOLLOW ?? 0), 0o600);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new VaultError('error', `cannot create ${p}: ${(e as Error).message}`, { cause: e });
        }
      }
      const fresh = fd !== undefined;
      if (fd === undefined) {
        if (lstatOrNull(p)?.isSymbolicLink()) checkSidecar(p, lstatSync(p), insecure);
        try {
          fd = openSync(p, OPEN_CHECK);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') continue;
          if (code === 'ELOOP' || code === 'EMLINK') checkSidecar(p, lstatSync(p), insecure);
          throw new VaultError('error', `cannot open ${p}: ${(e as Error).message}`, { cause: e });
        }
      }
      try {
        const st = fstatSync(fd);
        checkSidecar(p, st, insecure);
        ids.set(suffix, identity(st));
        if (fresh) created.set(suffix, identity(st));
      } finally {
        closeSync(fd);
      }
    }
  } catch (e) {
    removeCreated(path, created);
    throw e;
  }
  return { ids, created };
}

/** Removes the -wal/-shm prepareSidecars created, if the names still lead to them. */
function removeCreated(path: string, created: Map<string, string>): void {
  for (const [suffix, id] of created) {
    const st = lstatOrNull(path + suffix);
    if (st !== null && identity(st) === id) rmSync(path + suffix, { force: true });
  }
}

/**
 * Opens the path with SQLite and makes sure SQLite got the files that were checked, closing
 * the window between the checks and SQLite's own open(2) of the names (Linux, macOS, BSDs):
 * - the vault file: SQLite opens it at once but reads (and locks) it only on first use, so
 *   it is compared while `fd`, the descriptor the checks ran on, still pins the checked inode
 *   (no other file can take its number meanwhile); `fd` is then closed before SQLite takes a
 *   lock, because closing any descriptor of a file drops all of this process's POSIX locks on it;
 * - the -wal/-shm, which SQLite opens on the first read (configure reads in WAL mode): they
 *   must be the ones prepareSidecars checked or created;
 * - each time the names must still lead, without a link, to those inodes, and this process
 *   must hold each of them open (see verifyOpened), which a swap-and-swap-back cannot fake.
 * Residual limits: where descriptors cannot be listed (Windows, or no /proc) only the names
 * are compared, so a swap undone before the comparison (A to B and back to A) goes unseen. A
 * -wal/-shm is not held open between its check and SQLite's open (see prepareSidecars), so
 * someone able to write the directory could delete it and create another file that reuses
 * its inode number; the directory check leaves that to this user (and root), unless
 * insecurePermissions. A -wal that SQLite itself deletes and recreates later is its own
 * O_CREAT in that same directory.
 */
function connectChecked(path: string, fd: number, readonly: boolean, fresh: boolean, insecure: boolean): Database {
  let fdOpen = true;
  let sidecars: ReturnType<typeof prepareSidecars> | undefined;
  let db: Database | undefined;
  try {
    sidecars = prepareSidecars(path, readonly, insecure);
    const checked = identity(fstatSync(fd));
    const addon = nativeBinding();
    db = new BetterSqlite3(path, { readonly, fileMustExist: true, timeout: BUSY_TIMEOUT_MS, ...(addon !== undefined ? { nativeBinding: addon } : {}) });
    verifyOpened(path, checked, [checked], fd);
    closeSync(fd);
    fdOpen = false;
    configure(db, path, readonly, fresh);
    // A read after journal_mode = WAL: SQLite opens the -wal/-shm on a read, not on the switch.
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    const required = [checked];
    for (const suffix of SIDECARS) {
      const st = lstatOrNull(path + suffix);
      const known = sidecars.ids.get(suffix);
      // Whatever -wal/-shm SQLite holds now must pass the sidecar rule (a regular file of ours,
      // closed to others, not a link).
      if (st !== null) checkSidecar(path + suffix, st, insecure);
      if (known === undefined) continue; // read-only: SQLite may not have opened them
      if (st === null) throw changed(path);
      // It need not be the file prepared above: another vault process that closes the vault
      // last deletes both, and SQLite then creates them anew, many times a second when several
      // processes share a vault. In a directory only this user (and root) can write, which
      // checkVaultDirectory ensures, nobody else can have put one there. Under
      // --insecure-permissions others may write the directory: there the file must be the one
      // prepared, and a concurrent close shows as a (false) swap.
      if (insecure && identity(st) !== known) throw changed(path);
      // In WAL mode (every writable connection, see configure) SQLite now holds both open: the
      // names must lead to the files it holds, or something was swapped in after the check.
      if (!readonly) required.push(identity(st));
    }
    verifyOpened(path, checked, required);
    return db;
  } catch (e) {
    db?.close();
    if (sidecars !== undefined) removeCreated(path, sidecars.created);
    throw e;
  } finally {
    if (fdOpen) closeSync(fd);
  }
}

/**
 * The name still leads, without a link, to the checked vault file, and (where descriptors can
 * be listed) every inode in `required` is held open by some descriptor of this process other
 * than `ownFd`. SQLite holds one descriptor per file; had it opened a swapped-in file, it
 * would not also hold ours, which nothing else in the process opens. Descriptors other
 * threads open meanwhile (V8 reads /proc files) do not matter to this rule.
 */
function verifyOpened(path: string, checked: string, required: Iterable<string>, ownFd?: number): void {
  const now = lstatOrNull(path);
  if (now === null || !now.isFile() || identity(now) !== checked) throw changed(path);
  const open = openFiles();
  if (open === null) return;
  const held = new Set<string>();
  for (const [n, id] of open) if (n !== ownFd) held.add(id);
  for (const id of required) if (!held.has(id)) throw changed(path);
}

function changed(path: string): VaultError {
  return new VaultError('error', `${path} or a file beside it was replaced while the vault was being opened`, {
    hint: 'another process is changing the vault directory; check who can write to it',
  });
}

function notAVault(path: string, cause?: unknown): VaultError {
  return new VaultError('integrity', `${path} is not a vault file or is damaged`, {
    hint: 'check the path given with --vault or VAULT_PATH; restore the file from a backup',
    cause,
  });
}

/** Maps SQLite's corruption codes to an integrity error; other errors pass through. */
export function asStoreError(e: unknown, path: string): unknown {
  const code = (e as { code?: string }).code;
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT' || (code?.startsWith('SQLITE_CORRUPT_') ?? false)) {
    return notAVault(path, e);
  }
  if (code === 'SQLITE_BUSY') {
    return new VaultError('error', 'the vault is busy: another vault process holds the write lock', {
      hint: 'try again in a moment',
      cause: e,
    });
  }
  if (code === 'SQLITE_READONLY' || code === 'SQLITE_CANTOPEN' || code === 'SQLITE_IOERR' || code === 'SQLITE_FULL') {
    return new VaultError('error', `cannot write the vault at ${path}: ${(e as Error).message}`, { cause: e });
  }
  return e;
}

/** `fresh`: this process just created the file, so it may start empty (user_version 0). */
function configure(db: Database, path: string, readonly: boolean, fresh: boolean): void {
  // Read the schema version before anything writes to the file: a newer file is never touched.
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new VaultError('integrity', `the vault at ${path} has schema version ${version}, newer than this vault (${SCHEMA_VERSION})`, {
      hint: 'upgrade vault to open this file',
    });
  }
  // Another program's SQLite database is refused before journal_mode = WAL rewrites its header.
  if (!fresh && (version === 0 || !hasTable(db, 'meta'))) throw notAVault(path);
  if (!readonly) db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  // Deleted or replaced rows (purged versions, rotated keys) are overwritten with zeros.
  db.pragma('secure_delete = ON');
  db.pragma('synchronous = FULL');
}

const SCHEMA_META = 'schema_version';
const TAMPERED_HINT = 'the vault file may have been tampered with; restore it from a backup';

/**
 * Applies the migrations a file at an older (or, when just created, no) schema version needs.
 *
 * PRAGMA user_version is one unauthenticated integer in the file header: lowered, it would
 * make us run released migrations a second time on tables that have them already. So
 * migrate() also records the version in meta (`schema_version`), and an existing file whose
 * header and row disagree is refused (integrity) before anything is written. Files made
 * before that row existed get it on their next writable open; until then, a migration that
 * fails because its table, index or column already exists is taken as the same tampering.
 * Both work for any number of MIGRATIONS, and a refusal rolls back, leaving the file as it was.
 */
function migrate(db: Database, path: string): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  const recorded = current === 0 ? undefined : recordedVersion(db);
  checkRecorded(path, current, recorded);
  if (current === SCHEMA_VERSION && (recorded !== undefined || db.readonly)) return;
  immediate(db, () => {
    // Another process may have migrated between the read above and the write lock.
    const again = db.pragma('user_version', { simple: true }) as number;
    const recordedAgain = again === 0 ? undefined : recordedVersion(db);
    checkRecorded(path, again, recordedAgain);
    if (again === SCHEMA_VERSION && recordedAgain !== undefined) return;
    for (let v = again; v < SCHEMA_VERSION; v++) {
      try {
        MIGRATIONS[v]!(db);
      } catch (e) {
        const { code, message } = e as { code?: string; message?: string };
        if (code === 'SQLITE_ERROR' && /duplicate column name|already exists/.test(message ?? '')) {
          throw new VaultError('integrity', `the vault at ${path} has schema version ${again} in its header but newer tables`, {
            hint: TAMPERED_HINT,
            cause: e,
          });
        }
        throw e;
      }
    }
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
    db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(
      SCHEMA_META,
      String(SCHEMA_VERSION),
    );
  });
}

function recordedVersion(db: Database): string | undefined {
  if (!hasTable(db, 'meta')) return undefined;
  const row = db.prepare('SELECT value FROM meta WHERE key = ?').get(SCHEMA_META) as { value: unknown } | undefined;
  return row === undefined ? undefined : String(row.value);
}

function checkRecorded(path: string, header: number, recorded: string | undefined): void {
  if (recorded !== undefined && recorded !== String(header)) {
    // The row is the attacker's text: only a plain number is repeated in the message.
    const shown = /^[0-9]{1,9}$/.test(recorded) ? recorded : 'an unreadable value';
    throw new VaultError('integrity', `the vault at ${path} has schema version ${header} in its header but ${shown} in its meta table`, {
      hint: TAMPERED_HINT,
    });
  }
}

function hasTable(db: Database, name: string): boolean {
  return db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(name) !== undefined;
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/** Blocks this thread for `ms` (the library API is synchronous, as better-sqlite3 is). */
function sleepMs(ms: number): void {
  Atomics.wait(pause, 0, 0, ms);
}

/**
 * Runs fn in BEGIN IMMEDIATE: the write lock is taken up front, so no upgrade deadlock.
 * Waiting for the lock: SQLite's busy handler retries for BUSY_TIMEOUT_MS; when that runs out
 * while other processes are committing (PRAGMA data_version moved: the vault is busy, not
 * stuck), this waits a random 1-50 ms and queues again, so 8 writers all get through instead
 * of the slowest ones failing with "the vault is busy". Only a holder that commits nothing for
 * a whole timeout surfaces SQLITE_BUSY. BEGIN IMMEDIATE fails before fn runs, so a retry never
 * runs fn twice; a nested call (inside a transaction) is a savepoint and never waits.
 */
export function immediate<T>(db: Database, fn: () => T): T {
  const tx = db.transaction(fn);
  if (db.inTransaction) return tx.immediate();
  let seen = db.pragma('data_version', { simple: true }) as number;
  for (;;) {
    try {
      return tx.immediate();
    } catch (e) {
      if ((e as { code?: string }).code !== 'SQLITE_BUSY' || db.inTransaction) throw e;
      const now = db.pragma('data_version', { simple: true }) as number;
      if (now === seen) throw e;
      seen = now;
      sleepMs(1 + Math.floor(Math.random() * 50));
    }
  }
}

export function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
