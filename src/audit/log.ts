import { createHmac } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import { encodeAad } from '../crypto/aead.js';
import type { Actor } from './actor.js';

/**
 * The audit chain (SPEC §10). Each entry's MAC is HMAC-SHA256, under the vault's audit key,
 * of the entry's canonical encoding followed by the previous entry's MAC; the first entry
 * follows 32 zero bytes. The audit key is random, kept sealed under the data key, and
 * re-sealed (not replaced) by `rotate --master`, so the chain verifies across rotations.
 * Values never enter an entry.
 */

export type AuditOp =
  | 'init' | 'get' | 'put' | 'rotate' | 'rotate-master' | 'rm' | 'rollback'
  | 'exec' | 'env' | 'export' | 'inject' | 'import'
  | 'key-add' | 'key-rm' | 'keychain-enable' | 'keychain-disable' | 'passwd' | 'unlock' | 'kdf-upgrade';

export type AuditOutcome = 'ok' | 'denied' | 'failed' | 'not-found' | 'expired';

export interface AuditEntry {
  op: AuditOp;
  ns?: string | null;
  name?: string | null;
  version?: number | null;
  outcome: AuditOutcome;
  /** structured, value-free details: an exec's command basename and argc, injected names… */
  detail?: Record<string, unknown> | null;
}

export interface AuditRow {
  seq: number;
  at: number;
  op: string;
  ns: string | null;
  name: string | null;
  version: number | null;
  outcome: string;
  actor_user: string;
  actor_pid: number;
  actor_parent: string;
  detail: string | null;
  mac: Buffer | null;
}

export const GENESIS_MAC = Buffer.alloc(32);

export function canonicalEntry(vaultId: string, row: Omit<AuditRow, 'mac'>): Buffer {
  return encodeAad('vault/audit/v1', [
    vaultId,
    row.seq,
    row.at,
    row.op,
    row.ns ?? '',
    row.name ?? '',
    row.version ?? '',
    row.outcome,
    row.actor_user,
    row.actor_pid,
    row.actor_parent,
    row.detail ?? '',
  ]);
}

export function entryMac(key: Buffer, vaultId: string, row: Omit<AuditRow, 'mac'>, prevMac: Buffer): Buffer {
  return createHmac('sha256', key).update(canonicalEntry(vaultId, row)).update(prevMac).digest();
}

function lastMac(db: Database): Buffer {
  const row = db.prepare('SELECT mac FROM audit WHERE mac IS NOT NULL ORDER BY seq DESC LIMIT 1').get() as { mac: Buffer } | undefined;
  return row?.mac ?? GENESIS_MAC;
}

function nextSeq(db: Database): number {
  const row = db.prepare('SELECT MAX(seq) AS seq FROM audit').get() as { seq: number | null };
  return (row.seq ?? 0) + 1;
}

function rowFor(db: Database, entry: AuditEntry, actor: Actor, now: number): Omit<AuditRow, 'mac'> {
  return {
    seq: nextSeq(db),
    at: now,
    op: entry.op,
    ns: entry.ns ?? null,
    name: entry.name ?? null,
    version: entry.version ?? null,
    outcome: entry.outcome,
    actor_user: actor.user,
    actor_pid: actor.pid,
    actor_parent: actor.parent,
    detail: entry.detail ? JSON.stringify(entry.detail) : null,
  };
}

const INSERT = `INSERT INTO audit (seq, at, op, ns, name, version, outcome, actor_user, actor_pid, actor_parent, detail, mac)
  VALUES (@seq, @at, @op, @ns, @name, @version, @outcome, @actor_user, @actor_pid, @actor_parent, @detail, @mac)`;

/**
 * Appends one chained entry. Call it inside the write transaction of the change it records
 * (or, for a read, before the value is released): if it throws, the operation fails.
 */
export function appendAudit(db: Database, key: Buffer, vaultId: string, entry: AuditEntry, actor: Actor, now: number): void {
  const row = rowFor(db, entry, actor, now);
  const mac = entryMac(key, vaultId, row, lastMac(db));
  db.prepare(INSERT).run({ ...row, mac });
}
