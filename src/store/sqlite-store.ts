import type { Database } from 'better-sqlite3';
import type { AuditEntry, AuditKey } from '../audit/log.js';
import type { AuditFilter, AuditRecord } from '../audit/query.js';
import type { AuditVerification } from '../audit/verify.js';
import { appendAudit, appendPending, chainStatus, queryAudit, retagHead, verifyChain } from './audit.js';
import type { Actor } from '../audit/actor.js';
import { createVaultFile, immediate, openVaultFile, type OpenOptions } from './db.js';
import * as grants from './grants.js';
import type { GrantRow } from './grants.js';
import * as meta from './meta.js';
import { SCHEMA_VERSION } from './schema.js';
import * as secrets from './secrets.js';
import type { ListedRow, SecretRow, VersionRow } from './secrets.js';
import * as slots from './slots.js';
import type { SlotKind, SlotRow } from './slots.js';
import type { Store } from './store.js';

/** The vault in one SQLite file: the Store over src/store/*.ts and src/audit/*.ts as they are. */
export class SqliteStore implements Store {
  readonly kind = 'file' as const;
  readonly schemaVersion = SCHEMA_VERSION;

  private constructor(
    readonly location: string,
    readonly db: Database,
  ) {}

  /** A new vault file (0600 in a 0700 directory); `exists` when there is one. */
  static create(path: string, options: Pick<OpenOptions, 'insecurePermissions'> = {}): SqliteStore {
    return new SqliteStore(path, createVaultFile(path, options));
  }

  /** An existing vault file, after the permission, format and schema checks of openVaultFile. */
  static open(path: string, options: OpenOptions = {}): SqliteStore {
    return new SqliteStore(path, openVaultFile(path, options));
  }

  get isOpen(): boolean {
    return this.db.open;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  write<T>(fn: () => T): T {
    return this.db.inTransaction ? this.db.transaction(fn)() : immediate(this.db, fn);
  }

  read<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  savepoint<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  dataVersion(): number {
    return this.db.pragma('data_version', { simple: true }) as number;
  }

  scrub(): boolean {
    try {
      const [cp] = this.db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number; log: number; checkpointed: number }>;
      return cp !== undefined && cp.busy === 0 && cp.log === cp.checkpointed;
    } catch {
      return false;
    }
  }

  relaxedCommits(on: boolean): void {
    this.db.pragma(on ? 'synchronous = NORMAL' : 'synchronous = FULL');
  }

  getMeta(key: string): string | undefined {
    return meta.getMeta(this.db, key);
  }
  setMeta(key: string, value: string): void {
    meta.setMeta(this.db, key, value);
  }
  deleteMeta(key: string): void {
    meta.deleteMeta(this.db, key);
  }

  allSlots(): SlotRow[] {
    return slots.allSlots(this.db);
  }
  slotsOfKind(kind: SlotKind): SlotRow[] {
    return slots.slotsOfKind(this.db, kind);
  }
  slotById(id: string): SlotRow | undefined {
    return slots.slotById(this.db, id);
  }
  hasSlotKind(kind: SlotKind): boolean {
    return slots.hasSlotKind(this.db, kind);
  }
  insertSlot(slot: SlotRow): void {
    slots.insertSlot(this.db, slot);
  }
  replaceSlot(slot: SlotRow): void {
    slots.replaceSlot(this.db, slot);
  }
  deleteSlot(id: string): void {
    slots.deleteSlot(this.db, id);
  }
  touchSlot(id: string, at: number): void {
    slots.touchSlot(this.db, id, at);
  }

  findSecret(ns: string, name: string): SecretRow | undefined {
    return secrets.findSecret(this.db, ns, name);
  }
  allSecrets(): SecretRow[] {
    return secrets.allSecrets(this.db);
  }
  secretMacs(): Array<{ id: number; mac: Buffer | null }> {
    return secrets.secretMacs(this.db);
  }
  secretDigestRows(): Iterable<Buffer> {
    return secrets.secretDigestRows(this.db);
  }
  currentSecrets(ns: string | null): SecretRow[] {
    return secrets.currentSecrets(this.db, ns);
  }
  listedSecrets(ns: string | null): Iterable<ListedRow> {
    return secrets.listedSecrets(this.db, ns);
  }
  currentWithVersions(ns: string): Iterable<{ secret: SecretRow; row: VersionRow | undefined }> {
    return secrets.currentWithVersions(this.db, ns);
  }
  currentNames(ns: string): string[] {
    return secrets.currentNames(this.db, ns);
  }
  secretsOfNamespace(ns: string): Map<string, SecretRow> {
    return secrets.secretsOfNamespace(this.db, ns);
  }
  insertSecret(row: Omit<SecretRow, 'id'>): number {
    return secrets.insertSecret(this.db, row);
  }
  updateSecret(row: SecretRow): void {
    secrets.updateSecret(this.db, row);
  }
  findVersion(secretId: number, version: number): VersionRow | undefined {
    return secrets.findVersion(this.db, secretId, version);
  }
  versionsOf(secretId: number): VersionRow[] {
    return secrets.versionsOf(this.db, secretId);
  }
  countVersionsOf(secretId: number): number {
    return secrets.countVersionsOf(this.db, secretId);
  }
  insertVersion(row: VersionRow): void {
    secrets.insertVersion(this.db, row);
  }
  deleteVersions(secretId: number): number {
    return secrets.deleteVersions(this.db, secretId);
  }
  allVersionKeys(): Array<{ secret_id: number; version: number }> {
    return secrets.allVersionKeys(this.db);
  }
  versionPage(after: { secret_id: number; version: number } | null, limit: number): VersionRow[] {
    return secrets.versionPage(this.db, after, limit);
  }
  setCiphertext(secretId: number, version: number, nonce: Buffer, ciphertext: Buffer): void {
    secrets.setCiphertext(this.db, secretId, version, nonce, ciphertext);
  }
  markRotationDue(): number {
    return secrets.markRotationDue(this.db);
  }
  counts(): { secrets: number; removed: number; versions: number; audit: number; rotationDue: number } {
    return secrets.counts(this.db);
  }

  findGrant(name: string): GrantRow | undefined {
    return grants.findGrant(this.db, name);
  }
  allGrants(): GrantRow[] {
    return grants.allGrants(this.db);
  }
  grantMacs(): Array<{ id: number; mac: Buffer | null }> {
    return grants.grantMacs(this.db);
  }
  insertGrant(row: Omit<GrantRow, 'id'>): number {
    return grants.insertGrant(this.db, row);
  }
  updateGrant(row: GrantRow): void {
    grants.updateGrant(this.db, row);
  }
  deleteGrant(id: number): void {
    grants.deleteGrant(this.db, id);
  }

  appendAudit(key: Buffer, vaultId: string, entry: AuditEntry, actor: Actor, now: number): { seq: number } {
    return appendAudit(this.db, key, vaultId, entry, actor, now);
  }
  appendPending(entry: AuditEntry & { op: 'unlock'; outcome: 'denied' }, actor: Actor, now: number): { seq: number } {
    return appendPending(this.db, entry, actor, now);
  }
  chainStatus(): { head: { seq: number; mac: string } | null; pending: number } {
    return chainStatus(this.db);
  }
  retagHead(key: Buffer, vaultId: string): void {
    retagHead(this.db, key, vaultId);
  }
  queryAudit(filter: AuditFilter): AuditRecord[] {
    return queryAudit(this.db, filter);
  }
  verifyChain(keys: ReadonlyArray<AuditKey>, vaultId: string): AuditVerification {
    return verifyChain(this.db, keys, vaultId);
  }
}
