import { existsSync } from 'node:fs';
import type { OpenOptions } from './db.js';
import { PgStore } from './pg/store.js';
import { SqliteStore } from './sqlite-store.js';
import { isPostgresUrl, type Store } from './store.js';

export type StoreOptions = OpenOptions;

/**
 * The store a vault location names: `postgres://…` a PostgreSQL vault (src/store/pg), anything
 * else a SQLite file. The PostgreSQL client is loaded only by the worker PgStore starts, so a
 * file vault loads nothing of it.
 */
export function openStore(location: string, options: StoreOptions = {}): Store {
  return isPostgresUrl(location) ? PgStore.open(location) : SqliteStore.open(location, options);
}

/** Whether a vault is at `location` already (init refuses before any passphrase is asked or derived). */
export function storeExists(location: string): boolean {
  if (!isPostgresUrl(location)) return existsSync(location);
  return PgStore.exists(location);
}

/** A new, empty store at `location`; `exists` when a vault is there already. */
export function createStore(location: string, _options: object = {}): Store {
  return isPostgresUrl(location) ? PgStore.create(location) : SqliteStore.create(location);
}
