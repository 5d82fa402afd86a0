import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import type { Database } from 'better-sqlite3';
import { appendAudit, appendPending, chainStatus, type AuditEntry } from '../audit/log.js';
import { queryAudit, type AuditFilter, type AuditRecord } from '../audit/query.js';
import { verifyChain, type AuditVerification } from '../audit/verify.js';
import { currentActor, type Actor } from '../audit/actor.js';
import { encodeAad, open, seal, wipe } from '../crypto/aead.js';
import { canonicalParams, defaultKdf, deriveKek, isBelowDefaults, parseKdf, SALT_BYTES, type KdfSpec, type PassphraseKdf } from '../crypto/kdf.js';
import { slotMac, slotPublicKey, unwrapWithKek, wrapToPublicKey } from '../crypto/slotwrap.js';
import { asStoreError, createVaultFile, immediate, openVaultFile, type OpenOptions } from '../store/db.js';
import { SCHEMA_VERSION } from '../store/schema.js';
import { VaultError } from './errors.js';
import { formatRef, MAX_VALUE_BYTES, type SecretRef } from './names.js';

/** The ciphertext format; bound into every AAD so an old/new format mix fails closed. */
export const FORMAT_VERSION = 1;

export type SlotKind = 'passphrase' | 'keychain' | 'master-key';

export interface SlotInfo {
  id: string;
  kind: SlotKind;
  label: string | null;
  kdf: string;
  kdfParams: string;
  createdAt: number;
  lastUsedAt: number | null;
}

export interface SecretInfo {
  ns: string;
  name: string;
  version: number;
  description: string | null;
  createdAt: number;
  updatedAt: number;
  expiresAt: number | null;
  expired: boolean;
}

export interface VersionInfo {
  version: number;
  createdAt: number;
  size: number;
  expiresAt: number | null;
  origin: string;
  current: boolean;
}

export interface SecretValue {
  ns: string;
  name: string;
  version: number;
  value: Buffer;
  expiresAt: number | null;
}

export interface PutOptions {
  force?: boolean;
  expiresAt?: number | null;
  description?: string | null;
  /** how this version came to be: put, rotate, rollback:N, import */
  origin?: string;
}

export interface GetOptions {
  version?: number;
  allowExpired?: boolean;
}

export interface VaultContext {
  /** the clock (tests move it); epoch milliseconds */
  now?: () => number;
  actor?: Actor;
}

export interface CreateOptions extends VaultContext {
  passphrase: Buffer;
  /** `scrypt` (default) or `pbkdf2`; the library API may also pass explicit parameters within the bounds */
  kdf?: PassphraseKdf | KdfSpec;
}

interface SlotRow {
  id: string;
  kind: SlotKind;
  label: string | null;
  kdf: string;
  kdf_params: string;
  salt: Buffer;
  nonce: Buffer;
  wrapped_key: Buffer;
  created_at: number;
  last_used_at: number | null;
  /** X25519 public key the data key is wrapped to (src/crypto/slotwrap.ts) */
  public_key: Buffer | null;
  ephemeral_key: Buffer | null;
  /** HMAC under the data key over the public key and KDF fields; checked by rotate --master */
  key_mac: Buffer | null;
}

interface SecretRow {
  id: number;
  ns: string;
  name: string;
  current_version: number;
  description: string | null;
  created_at: number;
  updated_at: number;
  removed_at: number | null;
}

interface VersionRow {
  version: number;
  nonce: Buffer;
  ciphertext: Buffer;
  size: number;
  expires_at: number | null;
  origin: string;
  created_at: number;
}

/** The KDFs each slot kind may use. */
const KDFS_OF_KIND: Record<string, readonly string[]> = {
  passphrase: ['scrypt', 'pbkdf2-sha256'],
  'master-key': ['hkdf-sha256'],
  keychain: ['none'],
};

/** A refusal decided inside a transaction whose audit entry must still be committed. */
class Refusal {
  constructor(readonly error: VaultError) {}
}

/**
 * One vault file. Opening it needs no key: names, versions, slots and status are readable
 * while locked. Reading or changing a value, or a slot, needs the data key, which one of the
 * unlock methods recovers from a key slot. Every operation that reads or changes a secret or
 * a slot writes its audit entry in the same transaction.
 */
export class Vault {
  private dataKey: Buffer | null = null;
  private auditKey: Buffer | null = null;
  private usedSlot: string | null = null;
  private readonly now: () => number;
  private readonly actor: Actor;

  private constructor(
    readonly path: string,
    private readonly db: Database,
    readonly id: string,
    ctx: VaultContext,
  ) {
    this.now = ctx.now ?? Date.now;
    this.actor = ctx.actor ?? currentActor();
  }

  /** Creates a new vault with one passphrase slot and returns it unlocked. */
  static async create(path: string, options: CreateOptions): Promise<Vault> {
    const spec = typeof options.kdf === 'object' ? options.kdf : defaultKdf(options.kdf ?? 'scrypt');
    if (spec.name !== 'scrypt' && spec.name !== 'pbkdf2-sha256') throw new VaultError('usage', 'a passphrase slot needs scrypt or pbkdf2');
    // Validate (and spend the KDF time) before the file exists, so a failure leaves nothing behind.
    parseKdf(spec.name, canonicalParams(spec));
    const dataKey = randomBytes(32);
    const auditKey = randomBytes(32);
    const id = randomBytes(16).toString('hex');
    const slot = await buildSlot(id, 'passphrase', null, spec, options.passphrase, dataKey, (ctxNow(options))());
    const db = createVaultFile(path);
    const vault = new Vault(path, db, id, options);
    vault.dataKey = dataKey;
    vault.auditKey = auditKey;
    vault.usedSlot = slot.id;
    try {
      immediate(db, () => {
        const meta = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
        meta.run('vault_id', id);
        meta.run('format_version', String(FORMAT_VERSION));
        meta.run('created_at', String(vault.now()));
        meta.run('audit_key', vault.sealAuditKey(dataKey));
        insertSlot(db, slot);
        vault.record({ op: 'init', outcome: 'ok', detail: { kdf: spec.name } });
      });
    } catch (e) {
      // A vault that could not be completed must not stay behind to block a retry with `exists`.
      vault.close();
      for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
      throw asStoreError(e, path);
    }
    return vault;
  }

  /** Opens an existing vault, locked. */
  static open(path: string, options: OpenOptions & VaultContext = {}): Vault {
    const db = openVaultFile(path, options);
    try {
      const row = db.prepare(`SELECT value FROM meta WHERE key = 'vault_id'`).get() as { value: string } | undefined;
      const format = db.prepare(`SELECT value FROM meta WHERE key = 'format_version'`).get() as { value: string } | undefined;
      if (!row || !format) throw new VaultError('integrity', `${path} is not a vault file or is damaged`);
      if (format.value !== String(FORMAT_VERSION)) {
        throw new VaultError('integrity', `the vault at ${path} has format ${format.value}, which this vault cannot read`);
      }
      return new Vault(path, db, row.value, options);
    } catch (e) {
      db.close();
      throw asStoreError(e, path);
    }
  }

  close(): void {
    wipe(this.dataKey, this.auditKey);
    this.dataKey = null;
    this.auditKey = null;
    if (this.db.open) this.db.close();
  }

  get unlocked(): boolean {
    return this.dataKey !== null;
  }

  get database(): Database {
    return this.db;
  }


  // ---- slots and unlocking ------------------------------------------------------------

  slots(): SlotInfo[] {
    const rows = this.db.prepare('SELECT * FROM slots ORDER BY created_at, id').all() as SlotRow[];
    return rows.map(slotInfo);
  }

  hasSlot(kind: SlotKind): boolean {
    return this.db.prepare('SELECT 1 FROM slots WHERE kind = ?').get(kind) !== undefined;
  }

  /** Tries every passphrase slot. Wrong passphrase: auth-failed, with no hint of why. */
  async unlockWithPassphrase(passphrase: Buffer): Promise<void> {
    const slot = await this.unlockKind('passphrase', passphrase);
    const spec = parseKdf(slot.kdf, slot.kdf_params);
    if (isBelowDefaults(spec)) await this.upgradeKdf(slot, spec, passphrase);
  }

  /** Tries every master-key slot with the KEK derived from the raw 32-byte key. */
  async unlockWithMasterKey(rawKey: Buffer): Promise<void> {
    await this.unlockKind('master-key', rawKey);
  }

  /** Unlocks with a keychain slot's KEK, as read from the OS keychain. */
  async unlockWithKeychainKek(slotId: string, kek: Buffer): Promise<void> {
    const row = this.db.prepare(`SELECT * FROM slots WHERE id = ? AND kind = 'keychain'`).get(slotId) as SlotRow | undefined;
    if (!row) throw new VaultError('not-found', `no keychain slot ${slotId}`);
    const key = await this.tryUnwrap(row, kek);
    if (!key) {
      this.recordFailedUnlock('keychain');
      throw authFailed();
    }
    this.finishUnlock(key, row.id);
  }

  /** Whether `kek` opens the keychain slot `slotId`; the vault stays as locked or unlocked as it was. */
  async keychainKekOpens(slotId: string, kek: Buffer): Promise<boolean> {
    const row = this.db.prepare(`SELECT * FROM slots WHERE id = ? AND kind = 'keychain'`).get(slotId) as SlotRow | undefined;
    if (!row || kek.length !== 32) return false;
    const key = await this.tryUnwrap(row, kek);
    wipe(key);
    return key !== null;
  }

  private async unlockKind(kind: SlotKind, secret: Buffer): Promise<SlotRow> {
    const rows = this.db.prepare('SELECT * FROM slots WHERE kind = ? ORDER BY created_at, id').all(kind) as SlotRow[];
    if (rows.length === 0) throw new VaultError('not-found', `the vault has no ${kind} slot`);
    for (const row of rows) {
      const key = await this.tryUnwrap(row, secret);
      if (key) {
        this.finishUnlock(key, row.id);
        return row;
      }
    }
    this.recordFailedUnlock(kind);
    throw authFailed();
  }

  /** Parameter bounds are checked first: a downgraded slot is an integrity error, not a KDF run. */
  private async tryUnwrap(row: SlotRow, secret: Buffer): Promise<Buffer | null> {
    const spec = parseKdf(row.kdf, row.kdf_params);
    if (row.kdf_params !== canonicalParams(spec)) throw new VaultError('integrity', `key slot ${row.id} has non-canonical kdf parameters`);
    // A passphrase slot switched to a cheap KDF is a downgrade, refused before any work.
    if (!KDFS_OF_KIND[row.kind]?.includes(spec.name)) throw new VaultError('integrity', `key slot ${row.id} (${row.kind}) cannot use kdf ${spec.name}`);
    const { public_key, ephemeral_key } = row;
    if (!public_key || !ephemeral_key) throw new VaultError('integrity', `key slot ${row.id} has no public key`);
    const kek = await deriveKek(spec, secret, row.salt);
    try {
      const aad = slotAad(this.id, { ...row, public_key, ephemeral_key });
      return unwrapWithKek(kek, public_key, { ephemeralKey: ephemeral_key, nonce: row.nonce, box: row.wrapped_key }, aad);
    } finally {
      wipe(kek);
    }
  }

  private finishUnlock(dataKey: Buffer, slotId: string): void {
    const row = this.db.prepare(`SELECT value FROM meta WHERE key = 'audit_key'`).get() as { value: string } | undefined;
    const auditKey = row ? this.openAuditKey(dataKey, row.value) : null;
    if (!auditKey) {
      wipe(dataKey);
      throw new VaultError('integrity', 'the vault audit key failed its check', { hint: 'the vault file may have been tampered with' });
    }
    this.dataKey = dataKey;
    this.auditKey = auditKey;
    this.usedSlot = slotId;
  }

  private sealAuditKey(dataKey: Buffer): string {
    const { nonce, box } = seal(dataKey, this.auditKey!, encodeAad('vault/audit-key/v1', [this.id, FORMAT_VERSION]));
    return Buffer.concat([nonce, box]).toString('base64');
  }

  private openAuditKey(dataKey: Buffer, stored: string): Buffer | null {
    const bytes = Buffer.from(stored, 'base64');
    return open(dataKey, bytes.subarray(0, 12), bytes.subarray(12), encodeAad('vault/audit-key/v1', [this.id, FORMAT_VERSION]));
  }

  /** Re-wraps a passphrase slot whose KDF parameters are below today's defaults. */
  private async upgradeKdf(row: SlotRow, spec: KdfSpec, passphrase: Buffer): Promise<void> {
    const family: PassphraseKdf = spec.name === 'scrypt' ? 'scrypt' : 'pbkdf2';
    const fresh = await buildSlot(this.id, 'passphrase', row.label, defaultKdf(family), passphrase, this.requireKey(), row.created_at, row.id);
    immediate(this.db, () => {
      this.checkKeyCurrent();
      this.db
        .prepare('UPDATE slots SET kdf = ?, kdf_params = ?, salt = ?, nonce = ?, wrapped_key = ?, public_key = ?, ephemeral_key = ?, key_mac = ? WHERE id = ?')
        .run(fresh.kdf, fresh.kdf_params, fresh.salt, fresh.nonce, fresh.wrapped_key, fresh.public_key, fresh.ephemeral_key, fresh.key_mac, row.id);
      this.record({ op: 'kdf-upgrade', outcome: 'ok', detail: { slot: row.id, from: `${row.kdf} ${row.kdf_params}`, to: `${fresh.kdf} ${fresh.kdf_params}` } });
    });
  }

  /**
   * The audit key sealed under `dataKey`, for meta `audit_key`. `rotate --master` re-seals the
   * same audit key under the new data key, so the chain keeps verifying across rotations.
   */
  sealedAuditKeyFor(dataKey: Buffer): string {
    if (!this.auditKey) throw new VaultError('locked', 'the vault is locked');
    return this.sealAuditKey(dataKey);
  }

  /** Switches to a new data key after the transaction that re-encrypted everything committed. */
  adoptDataKey(dataKey: Buffer): void {
    this.requireKey();
    if (this.dataKey !== dataKey) wipe(this.dataKey);
    this.dataKey = dataKey;
  }

  /**
   * Inside a write transaction: the data key held here is still the vault's. Another process
   * may have run `rotate --master` since this one unlocked; writing (or reading) with the old
   * key then would mix keys in one file, so it is refused. The audit key is re-sealed by every
   * rotation, so whether it still opens tells exactly that.
   */
  private checkKeyCurrent(): void {
    if (!this.dataKey) return;
    const row = this.db.prepare(`SELECT value FROM meta WHERE key = 'audit_key'`).get() as { value: string } | undefined;
    const key = row ? this.openAuditKey(this.dataKey, row.value) : null;
    if (!key) {
      throw new VaultError('error', 'the vault key was rotated by another process after this one unlocked; nothing was done', {
        hint: 'run the command again',
      });
    }
    wipe(key);
  }

  requireKey(): Buffer {
    if (!this.dataKey) throw new VaultError('locked', 'the vault is locked');
    return this.dataKey;
  }

  /**
   * Writes one audit entry; call only inside a write transaction. The first entry of an
   * unlocked session also stamps the slot that unlocked it as used.
   */
  record(entry: AuditEntry): void {
    if (!this.auditKey) throw new VaultError('locked', 'the vault is locked');
    try {
      if (this.usedSlot) this.db.prepare('UPDATE slots SET last_used_at = ? WHERE id = ?').run(this.now(), this.usedSlot);
      appendAudit(this.db, this.auditKey, this.id, entry, this.actor, this.now());
      this.usedSlot = null;
    } catch (e) {
      // Fail closed (SPEC §10): the caller's transaction rolls back, so nothing is changed or released.
      const what = entry.name ? `${entry.op} ${formatRef({ ns: entry.ns ?? '', name: entry.name })}` : entry.op;
      const reason = (e as Error).message ?? String(e);
      throw new VaultError('error', `cannot write the audit log entry for ${what}: ${reason}`, {
        hint: 'nothing was changed or released; check that the vault file is writable and the disk is not full',
        cause: e,
      });
    }
  }

  /**
   * Records a failed unlock (`method`: the kind of slot tried, never what was typed). With no
   * key the entry is written unsealed in its own transaction; the next record() seals it into
   * the chain. Best effort: a vault that cannot be written (read-only file, busy, full disk)
   * must not turn the auth failure into another error.
   */
  recordFailedUnlock(method: SlotKind): void {
    const entry = { op: 'unlock', outcome: 'denied', detail: { method } } as const;
    try {
      if (this.auditKey) this.transact(() => this.record(entry));
      else appendPending(this.db, entry, this.actor, this.now());
    } catch {
      // deliberately ignored: see above
    }
  }

  /** Every matching audit entry, oldest first; needs no key (entries hold no values). */
  auditLog(filter: AuditFilter = {}): AuditRecord[] {
    return queryAudit(this.db, filter);
  }

  /** Checks the whole audit chain under the audit key; reads only. */
  verifyAudit(): AuditVerification {
    if (!this.auditKey) throw new VaultError('locked', 'the vault is locked');
    return verifyChain(this.db, this.auditKey, this.id);
  }

  /** Runs fn in BEGIN IMMEDIATE; a Refusal returned by fn is thrown after its entry commits. */
  transact<T>(fn: () => T | Refusal): T {
    let out: T | Refusal;
    try {
      out = immediate(this.db, () => {
        this.checkKeyCurrent();
        return fn();
      });
    } catch (e) {
      throw asStoreError(e, this.path);
    }
    if (out instanceof Refusal) throw out.error;
    return out;
  }

  // ---- reading ------------------------------------------------------------------------

  list(options: { ns?: string; prefix?: string } = {}): SecretInfo[] {
    const now = this.now();
    const rows = this.db
      .prepare(
        `SELECT s.*, v.expires_at FROM secrets s JOIN versions v ON v.secret_id = s.id AND v.version = s.current_version
         WHERE s.removed_at IS NULL AND (@ns IS NULL OR s.ns = @ns) ORDER BY s.ns, s.name`,
      )
      .all({ ns: options.ns ?? null }) as Array<SecretRow & { expires_at: number | null }>;
    return rows
      .filter((r) => options.prefix === undefined || r.name.startsWith(options.prefix))
      .map((r) => ({
        ns: r.ns,
        name: r.name,
        version: r.current_version,
        description: r.description,
        createdAt: r.created_at,
        updatedAt: r.updated_at,
        expiresAt: r.expires_at,
        expired: r.expires_at !== null && r.expires_at <= now,
      }));
  }

  /** Versions of one secret, oldest first; a removed secret keeps its versions until purged. */
  history(ref: SecretRef): { removed: boolean; versions: VersionInfo[] } {
    const secret = this.findSecret(ref, true);
    if (!secret) throw notFound(ref);
    const rows = this.db
      .prepare('SELECT version, size, expires_at, origin, created_at FROM versions WHERE secret_id = ? ORDER BY version')
      .all(secret.id) as VersionRow[];
    return {
      removed: secret.removed_at !== null,
      versions: rows.map((v) => ({
        version: v.version,
        createdAt: v.created_at,
        size: v.size,
        expiresAt: v.expires_at,
        origin: v.origin,
        current: v.version === secret.current_version,
      })),
    };
  }

  /** Decrypts one version (the current one by default); the audit entry commits first. */
  get(ref: SecretRef, options: GetOptions = {}): SecretValue {
    const key = this.requireKey();
    return this.transact(() => {
      const secret = this.findSecret(ref, false);
      const version = options.version ?? secret?.current_version;
      const row = secret && version !== undefined ? this.findVersion(secret.id, version) : undefined;
      if (!secret || !row) {
        this.record({ op: 'get', ns: ref.ns, name: ref.name, version: options.version ?? null, outcome: 'not-found' });
        return new Refusal(options.version !== undefined && secret ? notFoundVersion(ref, options.version) : notFound(ref));
      }
      if (row.expires_at !== null && row.expires_at <= this.now() && !options.allowExpired) {
        this.record({ op: 'get', ns: ref.ns, name: ref.name, version: row.version, outcome: 'expired' });
        return new Refusal(expired(ref, row.expires_at));
      }
      const value = this.decrypt(key, ref, row);
      if (!value) {
        this.record({ op: 'get', ns: ref.ns, name: ref.name, version: row.version, outcome: 'failed' });
        return new Refusal(tampered(ref, row.version));
      }
      try {
        this.record({ op: 'get', ns: ref.ns, name: ref.name, version: row.version, outcome: 'ok' });
      } catch (e) {
        wipe(value); // no entry, no value: it never leaves this method
        throw e;
      }
      return { ns: ref.ns, name: ref.name, version: row.version, value, expiresAt: row.expires_at };
    });
  }

  // ---- writing ------------------------------------------------------------------------

  /** Stores a new version. An existing (not removed) name needs `force`. */
  put(ref: SecretRef, value: Buffer, options: PutOptions = {}): { version: number } {
    checkValueSize(value);
    const key = this.requireKey();
    return this.transact(() => {
      const secret = this.findSecret(ref, true);
      if (secret && secret.removed_at === null && !options.force) {
        return new Refusal(
          new VaultError('exists', `secret ${formatRef(ref)} already exists`, { hint: 'use --force to store a new version, or vault rotate' }),
        );
      }
      const version = this.writeVersion(key, ref, secret, value, options);
      this.record({ op: options.origin === 'rotate' ? 'rotate' : 'put', ns: ref.ns, name: ref.name, version, outcome: 'ok' });
      return { version };
    });
  }

  /** Makes a new version whose value is that of `version`. Restores a removed secret. */
  rollback(ref: SecretRef, version: number): { version: number } {
    const key = this.requireKey();
    return this.transact(() => {
      const secret = this.findSecret(ref, true);
      if (!secret) return new Refusal(notFound(ref));
      const row = this.findVersion(secret.id, version);
      if (!row) return new Refusal(notFoundVersion(ref, version));
      const value = this.decrypt(key, ref, row);
      if (!value) {
        this.record({ op: 'rollback', ns: ref.ns, name: ref.name, version, outcome: 'failed' });
        return new Refusal(tampered(ref, version));
      }
      try {
        const created = this.writeVersion(key, ref, secret, value, { force: true, expiresAt: row.expires_at, origin: `rollback:${version}` });
        this.record({ op: 'rollback', ns: ref.ns, name: ref.name, version: created, outcome: 'ok', detail: { from: version } });
        return { version: created };
      } finally {
        wipe(value);
      }
    });
  }

  /**
   * A new version of an existing, not removed secret (`vault rotate NAME`); not-found otherwise.
   * Without an explicit expiry the new version keeps the secret's lifetime: if the current
   * version expired N ms after it was made, the new one expires N ms from now.
   */
  rotate(ref: SecretRef, value: Buffer, options: { expiresAt?: number | null; detail?: Record<string, unknown> } = {}): { version: number } {
    checkValueSize(value);
    const key = this.requireKey();
    return this.transact(() => {
      const secret = this.findSecret(ref, false);
      if (!secret) {
        this.record({ op: 'rotate', ns: ref.ns, name: ref.name, outcome: 'not-found' });
        return new Refusal(notFound(ref));
      }
      const current = this.findVersion(secret.id, secret.current_version);
      const lifetime = options.expiresAt === undefined && current && current.expires_at !== null ? Math.max(0, current.expires_at - current.created_at) : null;
      const version = this.writeVersion(key, ref, secret, value, { force: true, expiresAt: options.expiresAt ?? null, origin: 'rotate' });
      // Counted from the new row's own created_at, so the lifetime carries over exactly.
      if (lifetime !== null) this.db.prepare('UPDATE versions SET expires_at = created_at + ? WHERE secret_id = ? AND version = ?').run(lifetime, secret.id, version);
      this.record({ op: 'rotate', ns: ref.ns, name: ref.name, version, outcome: 'ok', detail: options.detail ?? null });
      return { version };
    });
  }

  /** Removes a secret from use; `purge` also destroys every stored version. */
  rm(ref: SecretRef, options: { purge?: boolean } = {}): { versions: number } {
    this.requireKey();
    const result = this.transact(() => {
      const secret = this.findSecret(ref, true);
      if (!secret || (secret.removed_at !== null && !options.purge)) return new Refusal(notFound(ref));
      const count = (this.db.prepare('SELECT COUNT(*) AS n FROM versions WHERE secret_id = ?').get(secret.id) as { n: number }).n;
      if (options.purge) {
        this.db.prepare('DELETE FROM secrets WHERE id = ?').run(secret.id);
      } else {
        this.db.prepare('UPDATE secrets SET removed_at = ?, updated_at = ? WHERE id = ?').run(this.now(), this.now(), secret.id);
      }
      this.record({ op: 'rm', ns: ref.ns, name: ref.name, version: secret.current_version, outcome: 'ok', detail: { purge: !!options.purge } });
      return { versions: count };
    });
    // The zeroed pages sit in the WAL until a checkpoint; while another process holds the file
    // open none happens at close, and vault.db would keep the purged ciphertexts. Best effort:
    // a reader in the middle of a transaction defers it to a later checkpoint; the purge itself
    // has committed, so a failure here is not the user's error.
    if (options.purge) {
      try {
        this.db.pragma('wal_checkpoint(TRUNCATE)');
      } catch {
        // deferred, as above
      }
    }
    return result;
  }

  // ---- internals shared with the other operations ----------------------------------------

  findSecret(ref: SecretRef, includeRemoved: boolean): SecretRow | undefined {
    const row = this.db.prepare('SELECT * FROM secrets WHERE ns = ? AND name = ?').get(ref.ns, ref.name) as SecretRow | undefined;
    return row && (includeRemoved || row.removed_at === null) ? row : undefined;
  }

  /** One stored version of a secret, or undefined. */
  findVersion(secretId: number, version: number): VersionRow | undefined {
    return this.db.prepare('SELECT * FROM versions WHERE secret_id = ? AND version = ?').get(secretId, version) as VersionRow | undefined;
  }

  private decrypt(key: Buffer, ref: SecretRef, row: VersionRow): Buffer | null {
    return open(key, row.nonce, row.ciphertext, valueAad(this.id, ref, row.version));
  }

  /** Inserts the next version (and the secret row if new); call inside a transaction. */
  private writeVersion(key: Buffer, ref: SecretRef, secret: SecretRow | undefined, value: Buffer, options: PutOptions): number {
    const now = this.now();
    let secretId: number;
    let version: number;
    if (secret) {
      secretId = secret.id;
      const max = this.db.prepare('SELECT MAX(version) AS v FROM versions WHERE secret_id = ?').get(secret.id) as { v: number | null };
      version = (max.v ?? 0) + 1;
      const description = options.description === undefined ? secret.description : options.description;
      this.db
        .prepare('UPDATE secrets SET current_version = ?, description = ?, updated_at = ?, removed_at = NULL WHERE id = ?')
        .run(version, description, now, secret.id);
    } else {
      version = 1;
      const info = this.db
        .prepare('INSERT INTO secrets (ns, name, current_version, description, created_at, updated_at) VALUES (?, ?, 1, ?, ?, ?)')
        .run(ref.ns, ref.name, options.description ?? null, now, now);
      secretId = Number(info.lastInsertRowid);
    }
    const { nonce, box } = seal(key, value, valueAad(this.id, ref, version));
    this.db
      .prepare('INSERT INTO versions (secret_id, version, nonce, ciphertext, size, expires_at, origin, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(secretId, version, nonce, box, value.length, options.expiresAt ?? null, options.origin ?? 'put', now);
    return version;
  }

  /** Counts and facts for `vault status`; needs no key. */
  status(): VaultStatus {
    const count = (sql: string): number => (this.db.prepare(sql).get() as { n: number }).n;
    const chain = chainStatus(this.db);
    const created = this.db.prepare(`SELECT value FROM meta WHERE key = 'created_at'`).get() as { value: string } | undefined;
    return {
      path: this.path,
      vaultId: this.id,
      formatVersion: FORMAT_VERSION,
      schemaVersion: SCHEMA_VERSION,
      createdAt: created ? Number(created.value) : null,
      slots: this.slots(),
      secrets: count('SELECT COUNT(*) AS n FROM secrets WHERE removed_at IS NULL'),
      removed: count('SELECT COUNT(*) AS n FROM secrets WHERE removed_at IS NOT NULL'),
      versions: count('SELECT COUNT(*) AS n FROM versions'),
      auditEntries: count('SELECT COUNT(*) AS n FROM audit'),
      auditHead: chain.head,
      auditPending: chain.pending,
    };
  }

  // ---- building blocks for operations on many secrets (src/core/bulk.ts) ----------------
  // Each is meant to run inside transact(), next to the record() of the operation.

  /** The clock this vault was opened with; epoch milliseconds. */
  time(): number {
    return this.now();
  }

  /** Decrypts one version row; null when it fails its integrity check. Needs the key. */
  openVersion(ref: SecretRef, row: VersionRow): Buffer | null {
    return this.decrypt(this.requireKey(), ref, row);
  }

  /** Stores the next version of a secret (a new secret when `secret` is undefined); returns it. */
  storeVersion(ref: SecretRef, secret: SecretRow | undefined, value: Buffer, options: PutOptions = {}): number {
    checkValueSize(value);
    return this.writeVersion(this.requireKey(), ref, secret, value, options);
  }
}

export interface VaultStatus {
  path: string;
  vaultId: string;
  formatVersion: number;
  schemaVersion: number;
  createdAt: number | null;
  slots: SlotInfo[];
  secrets: number;
  removed: number;
  versions: number;
  auditEntries: number;
  auditHead: { seq: number; mac: string } | null;
  /** failed unlocks recorded while locked, not yet sealed into the chain */
  auditPending: number;
}

export { Refusal };

function ctxNow(ctx: VaultContext): () => number {
  return ctx.now ?? Date.now;
}

export function valueAad(vaultId: string, ref: SecretRef, version: number): Buffer {
  return encodeAad('vault/secret/v1', [vaultId, FORMAT_VERSION, ref.ns, ref.name, version]);
}

type SlotKeyFields = Pick<SlotRow, 'id' | 'kind' | 'kdf' | 'kdf_params' | 'salt'> & { public_key: Buffer };

/** Associated data of a slot's wrap: vault, format, slot id, kind, KDF name, parameters, salt, public and ephemeral keys. */
export function slotAad(vaultId: string, row: SlotKeyFields & { ephemeral_key: Buffer }): Buffer {
  return encodeAad('vault/slot/v2', [vaultId, FORMAT_VERSION, row.id, row.kind, row.kdf, row.kdf_params, row.salt, row.public_key, row.ephemeral_key]);
}

/** The MAC binding a slot's public key and KDF fields to the data key (see src/crypto/slotwrap.ts). */
export function slotKeyMac(vaultId: string, dataKey: Buffer, row: SlotKeyFields): Buffer {
  return slotMac(dataKey, [vaultId, FORMAT_VERSION, row.id, row.kind, row.kdf, row.kdf_params, row.salt, row.public_key]);
}

/**
 * Wraps `dataKey` to an existing slot's public key: a fresh ephemeral key, nonce and MAC.
 * Needs no secret of the slot; `rotate --master` uses it for every slot.
 */
export function rewrapSlot(vaultId: string, row: SlotKeyFields, dataKey: Buffer): Pick<SlotRow, 'ephemeral_key' | 'nonce' | 'wrapped_key' | 'key_mac'> {
  const wrap = wrapToPublicKey(row.public_key, dataKey, (ephemeral_key) => slotAad(vaultId, { ...row, ephemeral_key }));
  return { ephemeral_key: wrap.ephemeralKey, nonce: wrap.nonce, wrapped_key: wrap.box, key_mac: slotKeyMac(vaultId, dataKey, row) };
}

/** Derives the KEK for a new slot, and wraps the data key to the public key derived from it. */
export async function buildSlot(
  vaultId: string,
  kind: SlotKind,
  label: string | null,
  spec: KdfSpec,
  secret: Buffer,
  dataKey: Buffer,
  createdAt: number,
  id: string = randomBytes(4).toString('hex'),
): Promise<SlotRow> {
  const salt = randomBytes(SALT_BYTES);
  const kek = await deriveKek(spec, secret, salt);
  let public_key: Buffer;
  try {
    public_key = slotPublicKey(kek);
  } finally {
    wipe(kek);
  }
  const fields = { id, kind, kdf: spec.name, kdf_params: canonicalParams(spec), salt, public_key };
  return { ...fields, ...rewrapSlot(vaultId, fields, dataKey), label, created_at: createdAt, last_used_at: null };
}

export function insertSlot(db: Database, slot: SlotRow): void {
  db.prepare(
    `INSERT INTO slots (id, kind, label, kdf, kdf_params, salt, nonce, wrapped_key, created_at, last_used_at, public_key, ephemeral_key, key_mac)
     VALUES (@id, @kind, @label, @kdf, @kdf_params, @salt, @nonce, @wrapped_key, @created_at, @last_used_at, @public_key, @ephemeral_key, @key_mac)`,
  ).run(slot);
}

export type { SlotRow, SecretRow, VersionRow };

function slotInfo(row: SlotRow): SlotInfo {
  return {
    id: row.id,
    kind: row.kind,
    label: row.label,
    kdf: row.kdf,
    kdfParams: row.kdf_params,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
  };
}

export function checkValueSize(value: Buffer): void {
  if (value.length > MAX_VALUE_BYTES) {
    throw new VaultError('usage', `value is ${value.length} bytes, more than the 1 MiB limit`);
  }
}

/** The one answer to a wrong passphrase or key, whatever part was wrong (SPEC §3). */
export function authFailed(): VaultError {
  return new VaultError('auth-failed', 'wrong passphrase or key');
}

export function notFound(ref: SecretRef): VaultError {
  return new VaultError('not-found', `no secret ${formatRef(ref)}`, { hint: 'vault list shows the stored names' });
}

function notFoundVersion(ref: SecretRef, version: number): VaultError {
  return new VaultError('not-found', `secret ${formatRef(ref)} has no version ${version}`, { hint: `vault history ${formatRef(ref)} lists its versions` });
}

function expired(ref: SecretRef, at: number): VaultError {
  return new VaultError('expired', `secret ${formatRef(ref)} expired at ${new Date(at).toISOString()}`, {
    hint: 'store a new value with vault rotate, or pass --allow-expired',
  });
}

function tampered(ref: SecretRef, version: number): VaultError {
  return new VaultError('integrity', `secret ${formatRef(ref)} version ${version} failed its integrity check`, {
    hint: 'the vault file may have been tampered with; restore it from a backup',
  });
}
