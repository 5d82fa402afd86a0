import type { Database } from 'better-sqlite3';
import { stmt } from './statements.js';

/** `member`: a team member's identity (issue 11): label = the member's name, public_key = their identity's key, KDF none */
export type SlotKind = 'passphrase' | 'keychain' | 'master-key' | 'member';

/** A key slot as stored (migrations 1, 3 and 4). */
export interface SlotRow {
  id: string;
  kind: SlotKind;
  label: string | null;
  kdf: string;
  kdf_params: string;
  salt: Buffer;
  /** wrap_format 2: the sealed wrap (nonce, box); 1: 0.1's public-key wrap, with ephemeral_key */
  nonce: Buffer;
  wrapped_key: Buffer;
  created_at: number;
  last_used_at: number | null;
  public_key: Buffer | null;
  ephemeral_key: Buffer | null;
  /** the slot's MAC under the data key (src/keyring/keyring.ts slotMac) */
  key_mac: Buffer | null;
  wrap_format: number;
  /** pending links from rotate --master, oldest first (src/keyring/keyring.ts) */
  pending: Buffer | null;
}

const COLUMNS = 'id, kind, label, kdf, kdf_params, salt, nonce, wrapped_key, created_at, last_used_at, public_key, ephemeral_key, key_mac, wrap_format, pending';

export function allSlots(db: Database): SlotRow[] {
  return stmt(db, `SELECT ${COLUMNS} FROM slots ORDER BY created_at, id`).all() as SlotRow[];
}

export function slotsOfKind(db: Database, kind: SlotKind): SlotRow[] {
  return stmt(db, `SELECT ${COLUMNS} FROM slots WHERE kind = ? ORDER BY created_at, id`).all(kind) as SlotRow[];
}

export function slotById(db: Database, id: string): SlotRow | undefined {
  return stmt(db, `SELECT ${COLUMNS} FROM slots WHERE id = ?`).get(id) as SlotRow | undefined;
}

export function countSlots(db: Database): number {
  return (stmt(db, 'SELECT COUNT(*) AS n FROM slots').get() as { n: number }).n;
}

export function hasSlotKind(db: Database, kind: SlotKind): boolean {
  return stmt(db, 'SELECT 1 FROM slots WHERE kind = ?').get(kind) !== undefined;
}

export function insertSlot(db: Database, slot: SlotRow): void {
  stmt(
    db,
    `INSERT INTO slots (${COLUMNS}) VALUES (@id, @kind, @label, @kdf, @kdf_params, @salt, @nonce, @wrapped_key, @created_at, @last_used_at, @public_key, @ephemeral_key, @key_mac, @wrap_format, @pending)`,
  ).run(slot);
}

/** Replaces every stored field of the slot `slot.id` but its last use. */
export function replaceSlot(db: Database, slot: SlotRow): void {
  stmt(
    db,
    `UPDATE slots SET kind = @kind, label = @label, kdf = @kdf, kdf_params = @kdf_params, salt = @salt, nonce = @nonce, wrapped_key = @wrapped_key,
       created_at = @created_at, public_key = @public_key, ephemeral_key = @ephemeral_key, key_mac = @key_mac, wrap_format = @wrap_format, pending = @pending
     WHERE id = @id`,
  ).run(slot);
}

export function deleteSlot(db: Database, id: string): void {
  stmt(db, 'DELETE FROM slots WHERE id = ?').run(id);
}

export function touchSlot(db: Database, id: string, at: number): void {
  stmt(db, 'UPDATE slots SET last_used_at = ? WHERE id = ?').run(at, id);
}
