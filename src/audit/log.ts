import { createHmac, timingSafeEqual } from 'node:crypto';
import { encodeAad } from '../crypto/aead.js';
import type { Actor } from './actor.js';

/**
 * The audit chain (SPEC §10). Each entry's MAC is HMAC-SHA256, under the vault's audit key,
 * of the entry's canonical encoding followed by the previous entry's MAC; the first entry
 * follows 32 zero bytes. The audit key is random, kept sealed under the data key, and
 * re-sealed (not replaced) by `rotate --master`, so the chain verifies across rotations.
 * Values never enter an entry.
 *
 * Two rows of `meta` support the chain:
 *  - `audit_head`: the last sealed entry's seq and MAC, with a tag under the audit key. It
 *    makes deleting entries from the END of the log detectable (a chain alone cannot tell a
 *    truncated log from a short one), and it gives every later append a floor for its seq.
 *  - `audit_next_seq`: the next seq, bumped by every append, sealed or pending. It carries no
 *    MAC (failed unlocks are written without a key), so it only catches deletions done
 *    without also lowering it; see docs/readme/audit.md.
 * A seq is never reused: an entry deleted from the end leaves a gap that the next sealed
 * entry's MAC (which covers its seq) makes permanent.
 */

/** Every operation an entry may record; `vault audit --op` accepts these. */
export const AUDIT_OPS = [
  'init', 'get', 'put', 'rotate', 'rotate-master', 'rm', 'rollback',
  'exec', 'env', 'export', 'inject', 'import', 'scan',
  'key-add', 'key-rm', 'keychain-enable', 'keychain-disable', 'passwd', 'unlock', 'kdf-upgrade',
  'key-update', 'upgrade', 'accept-restore',
  'mv',
  'grant-add', 'grant-rm', 'mcp',
  'member-add', 'member-rm',
] as const;

/** An audit key and the first seq it MACs: `rotate --master` starts a new one (docs/security.md). */
export interface AuditKey {
  fromSeq: number;
  key: Buffer;
}

/** The key that MACs entry `seq`: the last one that starts at or before it. */
export function keyFor(keys: ReadonlyArray<AuditKey>, seq: number): Buffer {
  let key = keys[0]!.key;
  for (const k of keys) if (k.fromSeq <= seq) key = k.key;
  return key;
}

export type AuditOp = (typeof AUDIT_OPS)[number];

export type AuditOutcome = 'ok' | 'denied' | 'failed' | 'not-found' | 'expired';

export interface AuditEntry {
  op: AuditOp;
  ns?: string | null;
  name?: string | null;
  version?: number | null;
  outcome: AuditOutcome;
  /**
   * Structured, value-free details, stored as JSON. Shapes in use (docs/readme/audit.md):
   * exec `{ command, argc, names }` (see execDetail), rm `{ purge }`, rollback `{ from }`,
   * init `{ kdf }`, unlock `{ method }`. Never a value, never an argument.
   */
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

export type AuditBody = Omit<AuditRow, 'mac'>;

export const GENESIS_MAC = Buffer.alloc(32);

export const HEAD_META = 'audit_head';
export const NEXT_SEQ_META = 'audit_next_seq';

export function canonicalEntry(vaultId: string, row: AuditBody): Buffer {
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

export function entryMac(key: Buffer, vaultId: string, row: AuditBody, prevMac: Buffer): Buffer {
  return createHmac('sha256', key).update(canonicalEntry(vaultId, row)).update(prevMac).digest();
}

export function macEquals(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

const FAILED_UNLOCK_DETAILS = new Set(['passphrase', 'master-key', 'keychain', 'session', 'member'].map((method) => JSON.stringify({ method })));

/**
 * A failed unlock is the only kind of entry that may be written without a MAC, and only in
 * exactly the shape recordFailedUnlock writes: anything else in an unsealed row was written by
 * someone else, and sealing it would make it look like ours.
 */
export function isFailedUnlock(row: Pick<AuditRow, 'op' | 'outcome' | 'ns' | 'name' | 'version' | 'detail'>): boolean {
  return (
    row.op === 'unlock' && row.outcome === 'denied' && row.ns === null && row.name === null && row.version === null &&
    row.detail !== null && FAILED_UNLOCK_DETAILS.has(row.detail)
  );
}

// ---- the head record and the seq counter -------------------------------------------------

export interface ChainHead {
  seq: number;
  mac: Buffer;
  tag: Buffer;
}

export function headTag(key: Buffer, vaultId: string, seq: number, mac: Buffer): Buffer {
  return createHmac('sha256', key).update(encodeAad('vault/audit-head/v1', [vaultId, seq, mac])).digest();
}

/** The head record's text (meta `audit_head`) parsed: null when absent, 'malformed' when it does not parse. */
export function parseHead(text: string | undefined): ChainHead | 'malformed' | null {
  if (text === undefined) return null;
  const m = /^([1-9][0-9]{0,15}):([0-9a-f]{64}):([0-9a-f]{64})$/.exec(text);
  if (!m) return 'malformed';
  return { seq: Number(m[1]), mac: Buffer.from(m[2]!, 'hex'), tag: Buffer.from(m[3]!, 'hex') };
}

export function headIsAuthentic(key: Buffer, vaultId: string, head: ChainHead): boolean {
  return macEquals(headTag(key, vaultId, head.seq, head.mac), head.tag);
}

/** The seq counter's text (meta `audit_next_seq`), or null when absent or malformed. */
export function parseNextSeq(text: string | undefined): number | null {
  return text !== undefined && /^[1-9][0-9]{0,15}$/.test(text) ? Number(text) : null;
}

// ---- appending ---------------------------------------------------------------------------

export function bodyFor(seq: number, entry: AuditEntry, actor: Actor, now: number): AuditBody {
  return {
    seq,
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
