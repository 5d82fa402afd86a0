import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

/**
 * A private PostgreSQL cluster for a test file: initdb and pg_ctl in a temporary directory,
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

export function startCluster(): PgCluster {
  const bin = binDir();
  const dir = mkdtempSync(join(tmpdir(), 'vault-pg-'));
  const root = userInfo().uid === 0;
  const asServer = (cmd: string, args: string[], input?: string): string => {
    const full = root ? ['runuser', '-u', 'postgres', '--', cmd, ...args] : [cmd, ...args];
    const r = spawnSync(full[0]!, full.slice(1), { encoding: 'utf8', input, maxBuffer: 1 << 28 });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
    return r.stdout;
  };
  if (root) {
    const pw = execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim();
    const gid = execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim();
    chownSync(dir, Number(pw), Number(gid));
  }
  chmodSync(dir, 0o700);
  const data = join(dir, 'data');
  asServer(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C']);
  const start = (): void => {
    asServer(join(bin, 'pg_ctl'), ['-D', data, '-l', join(dir, 'log'), '-w', '-t', '60', '-o', `-k ${dir} -c listen_addresses='' -c fsync=off -c max_connections=40`, 'start']);
  };
  start();
  const psqlAs = (user: string, db: string, sql: string): string =>
    asServer(join(bin, 'psql'), ['-h', dir, '-U', user, '-d', db, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-f', '-'], sql);
  psqlAs('postgres', 'postgres', 'CREATE ROLE vault LOGIN; CREATE DATABASE vault OWNER vault;');
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
