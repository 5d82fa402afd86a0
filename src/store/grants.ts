import type { Database } from 'better-sqlite3';
import { stmt } from './statements.js';

/**
 * A grant as stored (migration 5): what one agent may use through `vault mcp`. The list
 * fields are JSON arrays of strings. Every field is covered by `mac` (src/core/integrity.ts
 * grantMac), and every grant's MAC by the state digest.
 */
export interface GrantRow {
  id: number;
  name: string;
  /** random, bound into the MAC: a row re-planted under the same name is a different grant */
  uid: Buffer;
  /** JSON array of `NS/NAME` */
  secrets: string;
  /** with `prefix`: every current secret of this namespace whose name starts with prefix ('' = all) */
  ns: string | null;
  prefix: string | null;
  /** JSON array of host names http_request may send these secrets to */
  hosts: string;
  /** JSON array of program names run_command may run; null = any */
  commands: string | null;
  expires_at: number | null;
  max_uses: number | null;
  /** uses per minute; null = no limit */
  rate: number | null;
  reveal: number;
  created_at: number;
  uses: number;
  last_used_at: number | null;
  /** JSON array of the epoch-ms times of the uses in the last minute (for `rate`) */
  recent: string;
  mac: Buffer;
}

const GRANT = 'id, name, uid, secrets, ns, prefix, hosts, commands, expires_at, max_uses, rate, reveal, created_at, uses, last_used_at, recent, mac';

export function findGrant(db: Database, name: string): GrantRow | undefined {
  return stmt(db, `SELECT ${GRANT} FROM grants WHERE name = ?`).get(name) as GrantRow | undefined;
}

export function allGrants(db: Database): GrantRow[] {
  return stmt(db, `SELECT ${GRANT} FROM grants ORDER BY name`).all() as GrantRow[];
}

/** The MAC of every grant, by id: what the state digest covers. */
export function grantMacs(db: Database): Array<{ id: number; mac: Buffer | null }> {
  return stmt(db, 'SELECT id, mac FROM grants ORDER BY id').all() as Array<{ id: number; mac: Buffer | null }>;
}

export function insertGrant(db: Database, row: Omit<GrantRow, 'id'>): number {
  const info = stmt(
    db,
    `INSERT INTO grants (name, uid, secrets, ns, prefix, hosts, commands, expires_at, max_uses, rate, reveal, created_at, uses, last_used_at, recent, mac)
     VALUES (@name, @uid, @secrets, @ns, @prefix, @hosts, @commands, @expires_at, @max_uses, @rate, @reveal, @created_at, @uses, @last_used_at, @recent, @mac)`,
  ).run(row);
  return Number(info.lastInsertRowid);
}

export function updateGrant(db: Database, row: GrantRow): void {
  stmt(
    db,
    `UPDATE grants SET name = @name, uid = @uid, secrets = @secrets, ns = @ns, prefix = @prefix, hosts = @hosts, commands = @commands,
       expires_at = @expires_at, max_uses = @max_uses, rate = @rate, reveal = @reveal, created_at = @created_at, uses = @uses,
       last_used_at = @last_used_at, recent = @recent, mac = @mac
     WHERE id = @id`,
  ).run(row);
}

export function deleteGrant(db: Database, id: number): void {
  stmt(db, 'DELETE FROM grants WHERE id = ?').run(id);
}
