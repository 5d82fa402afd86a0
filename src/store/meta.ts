import type { Database } from 'better-sqlite3';
import { stmt } from './statements.js';

/** The meta table: small named values (vault id, format, sealed keys, the state record). */
export function getMeta(db: Database, key: string): string | undefined {
  return (stmt(db, 'SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value;
}

export function setMeta(db: Database, key: string, value: string): void {
  stmt(db, 'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
}

export function deleteMeta(db: Database, key: string): void {
  stmt(db, 'DELETE FROM meta WHERE key = ?').run(key);
}
