import { closeSync, constants, fstatSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { Database } from 'better-sqlite3';
import { VaultError } from '../core/errors.js';
import { MIGRATIONS, SCHEMA_VERSION } from './schema.js';

export type { Database };

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');
const BUSY_TIMEOUT_MS = 5000;

export interface OpenOptions {
  /** accept a vault file that group or others can read (SPEC §2 --insecure-permissions) */
  insecurePermissions?: boolean;
  readonly?: boolean;
}

/**
 * Creates the directory (0700) and an empty file (0600) before SQLite touches the path, so
 * the database, and the -wal/-shm files SQLite gives the same mode, are never readable by
 * others, not even for a moment. Fails with `exists` when a file is already there.
 */
export function createVaultFile(path: string): Database {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  let fd: number;
  try {
    fd = openSync(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new VaultError('exists', `a vault already exists at ${path}`, {
        hint: 'use it, or choose another path with --vault',
      });
    }
    throw new VaultError('error', `cannot create ${path}: ${(e as Error).message}`, { cause: e });
  }
  closeSync(fd);
  const db = connect(path, false, true);
  migrate(db);
  return db;
}

/** Opens an existing vault file: permission check, format check, migration. */
export function openVaultFile(path: string, options: OpenOptions = {}): Database {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new VaultError('not-initialized', `no vault at ${path}`, { hint: 'create one with: vault init' });
    }
    throw new VaultError('error', `cannot open ${path}: ${(e as Error).message}`, { cause: e });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new VaultError('error', `${path} is not a regular file`);
    if ((st.mode & 0o077) !== 0 && !options.insecurePermissions && process.platform !== 'win32') {
      const mode = (st.mode & 0o777).toString(8).padStart(3, '0');
      throw new VaultError('error', `vault file ${path} is readable by other users (mode ${mode})`, {
        hint: `fix it with: chmod 600 '${path.replace(/'/g, `'\\''`)}'`,
      });
    }
    const head = Buffer.alloc(SQLITE_MAGIC.length);
    const n = readSync(fd, head, 0, head.length, 0);
    if (n < head.length || !head.equals(SQLITE_MAGIC)) throw notAVault(path);
  } finally {
    closeSync(fd);
  }
  let db: Database | undefined;
  try {
    db = connect(path, options.readonly ?? false, false);
    migrate(db);
    return db;
  } catch (e) {
    db?.close();
    throw asStoreError(e, path);
  }
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
function connect(path: string, readonly: boolean, fresh: boolean): Database {
  const db = new BetterSqlite3(path, { readonly, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
  try {
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
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

/** Applies the migrations a file at an older (or, when just created, no) schema version needs. */
function migrate(db: Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current === SCHEMA_VERSION) return;
  immediate(db, () => {
    const again = db.pragma('user_version', { simple: true }) as number;
    for (let v = again; v < SCHEMA_VERSION; v++) MIGRATIONS[v]!(db);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  });
}

function hasTable(db: Database, name: string): boolean {
  return db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(name) !== undefined;
}

/** Runs fn in BEGIN IMMEDIATE: the write lock is taken up front, so no upgrade deadlock. */
export function immediate<T>(db: Database, fn: () => T): T {
  return db.transaction(fn).immediate();
}

export function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
