import type { AuditEntry, AuditKey } from '../audit/log.js';
import type { AuditFilter, AuditRecord } from '../audit/query.js';
import type { AuditVerification } from '../audit/verify.js';
import type { Actor } from '../audit/actor.js';
import type { GrantRow } from './grants.js';
import type { ListedRow, SecretRow, VersionRow } from './secrets.js';
import type { SlotKind, SlotRow } from './slots.js';

/**
 * The one boundary between the vault core and where its rows live: a SQLite file
 * (src/store/sqlite-store.ts) or a PostgreSQL schema (src/store/pg/store.ts). Synchronous, so
 * the core stays synchronous: the PostgreSQL store answers through a worker thread.
 *
 * Everything a store holds is what "the file writer" of docs/security.md may edit: the core
 * authenticates every row it reads (slot and secret MACs, the state record, the audit chain),
 * never the store. A store only keeps rows and transactions.
 *
 * Adding a table: add its methods here (one group per table family, as below) and to both
 * implementations; the SQLite SQL stays in src/store/<table>.ts.
 */
export interface Store {
  /** `file` or `postgres` */
  readonly kind: 'file' | 'postgres';
  /** what messages name and the rollback anchor is keyed by: the file path, or the URL without its password */
  readonly location: string;
  /** the schema version of the tables this store holds */
  readonly schemaVersion: number;
  readonly isOpen: boolean;
  close(): void;

  // ---- transactions -----------------------------------------------------------------------
  /** fn in one write transaction (SQLite BEGIN IMMEDIATE; PostgreSQL BEGIN + the vault's advisory lock); nested: a savepoint */
  write<T>(fn: () => T): T;
  /** fn in one read transaction (a consistent snapshot); nested inside a write: a savepoint */
  read<T>(fn: () => T): T;
  /** inside a write transaction: fn in a savepoint, undone when fn throws */
  savepoint<T>(fn: () => T): T;
  /**
   * A number that changes when another connection has committed since this one last looked
   * (SQLite's PRAGMA data_version); inside a write transaction it is current.
   */
  dataVersion(): number;
  /** After a purge or a rotation: make the replaced bytes leave the store's files where it can; true when done. */
  scrub(): boolean;
  /**
   * Commits that change nothing but the audit log (reads) may skip the flush to disk while on
   * (SQLite: synchronous=NORMAL in WAL mode; README "What a power cut can lose"); off restores
   * full durability. PostgreSQL: unchanged (every commit is the server's to make durable).
   */
  relaxedCommits(on: boolean): void;

  // ---- meta -------------------------------------------------------------------------------
  getMeta(key: string): string | undefined;
  setMeta(key: string, value: string): void;
  deleteMeta(key: string): void;

  // ---- key slots --------------------------------------------------------------------------
  allSlots(): SlotRow[];
  slotsOfKind(kind: SlotKind): SlotRow[];
  slotById(id: string): SlotRow | undefined;
  hasSlotKind(kind: SlotKind): boolean;
  insertSlot(slot: SlotRow): void;
  replaceSlot(slot: SlotRow): void;
  deleteSlot(id: string): void;
  touchSlot(id: string, at: number): void;

  // ---- secrets and versions ---------------------------------------------------------------
  findSecret(ns: string, name: string): SecretRow | undefined;
  allSecrets(): SecretRow[];
  secretMacs(): Array<{ id: number; mac: Buffer | null }>;
  /**
   * Optional: the secret rows of the state digest, secretMacs() already encoded as
   * stateDigest (src/core/integrity.ts) encodes each, in id order, in pieces: a store that can
   * make those bytes itself (SQLite) spares the core a row object and a Buffer per secret.
   */
  secretDigestRows?(): Iterable<Buffer>;
  currentSecrets(ns: string | null): SecretRow[];
  /**
   * what `vault list` shows of the current secrets, by namespace and name, as rows (ListedRow:
   * the namespace only when `ns` is null); iterate to the end before the next call
   */
  listedSecrets(ns: string | null): Iterable<ListedRow>;
  /**
   * a namespace's current secrets with their current version rows (undefined when missing), by
   * name, in one query; iterate to the end before the next call
   */
  currentWithVersions(ns: string): Iterable<{ secret: SecretRow; row: VersionRow | undefined }>;
  /** the names of a namespace's current secrets, by name */
  currentNames(ns: string): string[];
  /** every secret row of a namespace (removed ones and tombstones too), by name */
  secretsOfNamespace(ns: string): Map<string, SecretRow>;
  insertSecret(row: Omit<SecretRow, 'id'>): number;
  updateSecret(row: SecretRow): void;
  findVersion(secretId: number, version: number): VersionRow | undefined;
  versionsOf(secretId: number): VersionRow[];
  countVersionsOf(secretId: number): number;
  insertVersion(row: VersionRow): void;
  deleteVersions(secretId: number): number;
  allVersionKeys(): Array<{ secret_id: number; version: number }>;
  /** up to `limit` version rows after (secret_id, version) `after` (from the start when null), in that order: rotation reads them page by page */
  versionPage(after: { secret_id: number; version: number } | null, limit: number): VersionRow[];
  setCiphertext(secretId: number, version: number, nonce: Buffer, ciphertext: Buffer): void;
  /** member rm: every secret with a stored value gets rotation_due = 1 (their MACs are the caller's to redo); how many changed */
  markRotationDue(): number;
  /** rotationDue: current secrets marked rotation due */
  counts(): { secrets: number; removed: number; versions: number; audit: number; rotationDue: number };

  // ---- agent grants (src/core/grants.ts) --------------------------------------------------
  findGrant(name: string): GrantRow | undefined;
  allGrants(): GrantRow[];
  /** every grant's MAC, by id: what the state digest covers */
  grantMacs(): Array<{ id: number; mac: Buffer | null }>;
  insertGrant(row: Omit<GrantRow, 'id'>): number;
  updateGrant(row: GrantRow): void;
  deleteGrant(id: number): void;

  // ---- the audit chain (src/audit) ------------------------------------------------------
  appendAudit(key: Buffer, vaultId: string, entry: AuditEntry, actor: Actor, now: number): { seq: number };
  appendPending(entry: AuditEntry & { op: 'unlock'; outcome: 'denied' }, actor: Actor, now: number): { seq: number };
  chainStatus(): { head: { seq: number; mac: string } | null; pending: number };
  retagHead(key: Buffer, vaultId: string): void;
  queryAudit(filter: AuditFilter): AuditRecord[];
  verifyChain(keys: ReadonlyArray<AuditKey>, vaultId: string): AuditVerification;
}

/** `postgres://` and `postgresql://` name a PostgreSQL vault; anything else is a file path. */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}
