import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

/**
 * A private PostgreSQL cluster for a test file: a copy of the run's initdb'd data directory
 * (or, outside scripts/test.js, initdb itself) started with pg_ctl in a temporary directory,
 * run as the `postgres` user when the tests run as root (PostgreSQL refuses to run as root),
 * listening only on a Unix socket in that directory, trust authentication for the role
 * `vault` the tests connect as. The one way tests reach the server from outside vault: psql
 * and pg_dump, as an attacker holding the database would.
 */
export interface PgCluster {
  dir: string;
  /** the socket directory */
  socket: string;
  /** a vault location in this cluster's `vault` database */
  url(vault: string): string;
  /** runs SQL through psql as the `vault` role (unaligned, tuples only); returns stdout */
  psql(sql: string): string;
  /** pg_dump of the whole `vault` database, as text */
  dump(options?: { schema?: string; clean?: boolean }): string;
  /** feeds SQL text (e.g. an older dump) to psql */
  restore(sqlText: string): void;
  stop(mode?: 'fast' | 'immediate'): void;
  start(): void;
  /** stops the server and removes the directory */
  destroy(): void;
}

function binDir(): string {
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
    if (existsSync(join(dir, 'pg_ctl'))) return dir;
  } catch {
    // no pg_config: look where Debian puts them
  }
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) if (existsSync(join(base, v, 'bin', 'pg_ctl'))) return join(base, v, 'bin');
  throw new Error('PostgreSQL server binaries not found (apt-get install postgresql; scripts/setup.sh does)');
}

/** Whether this machine can run a cluster (the binaries exist). */
export function havePostgres(): boolean {
  try {
    binDir();
    return true;
  } catch {
    return false;
  }
}

type Runner = (cmd: string, args: string[], input?: string) => string;

/** Runs a server binary, as the `postgres` user when the tests run as root. */
function serverRunner(): Runner {
  const root = userInfo().uid === 0;
  return (cmd, args, input) => {
    const full = root ? ['runuser', '-u', 'postgres', '--', cmd, ...args] : [cmd, ...args];
    const r = spawnSync(full[0]!, full.slice(1), { encoding: 'utf8', input, maxBuffer: 1 << 28 });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
    return r.stdout;
  };
}

/** A new 0700 directory in `parent`, owned by the user the server runs as. */
function serverDir(parent: string, prefix: string): string {
  const dir = mkdtempSync(join(parent, prefix));
  if (userInfo().uid === 0) {
    const pw = execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim();
    const gid = execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim();
    chownSync(dir, Number(pw), Number(gid));
  }
  chmodSync(dir, 0o700);
  return dir;
}

const serverOptions = (dir: string): string => `-k ${dir} -c listen_addresses='' -c fsync=off -c max_connections=40`;

/**
 * A data directory as initdb makes it, with the role `vault` and its database: made in `dir`
 * (initdb, a start to create them, a clean stop), so a copy starts in a fraction of the time.
 */
function makeData(bin: string, asServer: Runner, dir: string, data: string): void {
  asServer(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C']);
  asServer(join(bin, 'pg_ctl'), ['-D', data, '-l', join(dir, 'log'), '-w', '-t', '60', '-o', serverOptions(dir), 'start']);
  try {
    asServer(join(bin, 'psql'), ['-h', dir, '-U', 'postgres', '-d', 'postgres', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', '-'], 'CREATE ROLE vault LOGIN; CREATE DATABASE vault OWNER vault;');
  } finally {
    asServer(join(bin, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop']);
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * The data directory every test file of this run copies: made by the first file that needs it,
 * in the run's shared directory (VAULT_TEST_SHARED, set and removed by scripts/test.js), so
 * initdb runs once per run instead of once per file. The first file takes a lock (mkdir is
 * atomic) and publishes the finished directory by renaming it into place; the others wait
 * for it. Without VAULT_TEST_SHARED (a test file run by hand): null, each cluster runs initdb.
 */
function sharedTemplate(bin: string, asServer: Runner): string | null {
  const shared = process.env.VAULT_TEST_SHARED;
  if (!shared) return null;
  const ready = join(shared, 'pg-template');
  const lock = join(shared, 'pg-template.lock');
  if (existsSync(ready)) return readFileSync(ready, 'utf8');
  try {
    mkdirSync(lock);
  } catch {
    // another file is making it
    for (let i = 0; i < 1200 && !existsSync(ready); i++) Atomics.wait(pause, 0, 0, 100);
    if (!existsSync(ready)) throw new Error('the shared PostgreSQL data directory was not made in 120 s');
    return readFileSync(ready, 'utf8');
  }
  const dir = serverDir(shared, 'pg-');
  const data = join(dir, 'data');
  makeData(bin, asServer, dir, data);
  writeFileSync(`${ready}.tmp`, data);
  renameSync(`${ready}.tmp`, ready);
  return data;
}

export function startCluster(): PgCluster {
  const bin = binDir();
  const asServer = serverRunner();
  const template = sharedTemplate(bin, asServer);
  const dir = serverDir(tmpdir(), 'vault-pg-');
  const data = join(dir, 'data');
  // cp -a as the server's user keeps the owner and the 0700 mode PostgreSQL insists on
  if (template !== null) asServer('cp', ['-a', template, data]);
  else makeData(bin, asServer, dir, data);
  const start = (): void => {
    asServer(join(bin, 'pg_ctl'), ['-D', data, '-l', join(dir, 'log'), '-w', '-t', '60', '-o', serverOptions(dir), 'start']);
  };
  start();
  const psqlAs = (user: string, db: string, sql: string): string =>
    asServer(join(bin, 'psql'), ['-h', dir, '-U', user, '-d', db, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-f', '-'], sql);
  let stopped = false;
  const cluster: PgCluster = {
    dir,
    socket: dir,
    url: (vault) => `postgres://vault@localhost/vault?host=${encodeURIComponent(dir)}&vault=${vault}`,
    psql: (sql) => psqlAs('vault', 'vault', sql),
    dump: (options = {}) =>
      asServer(join(bin, 'pg_dump'), ['-h', dir, '-U', 'vault', '-d', 'vault', ...(options.schema ? ['-n', options.schema] : []), ...(options.clean ? ['--clean', '--if-exists'] : [])]),
    restore: (text) => {
      psqlAs('vault', 'vault', text);
    },
    stop: (mode = 'fast') => {
      if (stopped) return;
      asServer(join(bin, 'pg_ctl'), ['-D', data, '-m', mode, '-w', 'stop']);
      stopped = true;
    },
    start: () => {
      if (!stopped) return;
      start();
      stopped = false;
    },
    destroy: () => {
      try {
        cluster.stop('immediate');
      } catch {
        // already down
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return cluster;
}
