import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import type { Database } from 'better-sqlite3';
import type { Store } from '../store/store.js';
import { createStore, openStore, type StoreOptions } from '../store/open-store.js';
import { SqliteStore } from '../store/sqlite-store.js';
import type { AuditEntry, AuditKey } from '../audit/log.js';
import type { AuditFilter, AuditRecord } from '../audit/query.js';
import type { AuditVerification } from '../audit/verify.js';
import { currentActor, type Actor } from '../audit/actor.js';
import { open, publicRandom, seal, wipe } from '../crypto/aead.js';
import { canonicalParams, defaultKdf, isBelowDefaults, kdfPolicy, parseKdf, type KdfSpec, type PassphraseKdf, type PassphraseKdfPolicy } from '../crypto/kdf.js';
import { mac, macEqual } from '../crypto/mac.js';
import { buildSlot, FORMAT_VERSION, integrity, isUnopenedMember, MAX_ALL_SLOTS, tooManySlots, sealSlot, slotMac, slotMacOk, unlockSlots, type OpenedSlot } from '../keyring/keyring.js';
import { slotPublicKey } from '../crypto/slotwrap.js';
import { anchorDir as defaultAnchorDir } from '../store/anchor.js';
import { RollbackAnchor, type AnchorView } from './rollback-anchor.js';
import { upgradeRows } from './upgrade.js';
import { openAnchorKey, openAuditKeys, openLegacyAuditKey, writeSealedKeys } from './sealed-keys.js';
import { asStoreError } from '../store/db.js';
import type { GrantRow } from '../store/grants.js';
import type { SecretRow, VersionRow } from '../store/secrets.js';
import type { SlotKind, SlotRow } from '../store/slots.js';
import { VaultError } from './errors.js';
import { forgetSecretMacKey, grantMac, grantMacOk, parseState, secretMac, secretMacOk, stateDigest, stateMac, valueAad } from './integrity.js';
import { fingerprint, inGroups } from './identity.js';
import { formatRef, MAX_VALUE_BYTES, type SecretRef } from './names.js';

export { FORMAT_VERSION };
export type { SlotKind, SlotRow, SecretRow, VersionRow, GrantRow };

export interface SlotInfo {
  id: string;
  kind: SlotKind;
  label: string | null;
  kdf: string;
  kdfParams: string;
  createdAt: number;
  lastUsedAt: number | null;
  /** `sealed`; `pending` (a rotated key waits for the slot's next unlock); `legacy` (0.1's wrap, converted at its next unlock) */
  state: 'sealed' | 'pending' | 'legacy';
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
  /** marked not secret (put/import --not-secret): masking leaves its value alone */
  notSecret: boolean;
  /** a removed member could read its value (member rm): store a new one */
  rotationDue: boolean;
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
  /** mark the secret as not secret (true) or secret (false); omitted: unchanged (new: secret) */
  notSecret?: boolean;
}

export interface GetOptions {
  version?: number;
  allowExpired?: boolean;
}

export interface VaultContext {
  /** the clock (tests move it); epoch milliseconds */
  now?: () => number;
  actor?: Actor;
  /**
   * Where the rollback anchors live (src/store/anchor.ts); null turns rollback detection
   * across runs off (a throw-away vault). Default: from the process environment.
   */
  anchorDir?: string | null;
  /** accept a vault older than its anchor (a restore from backup), audited, instead of refusing it */
  acceptRestore?: boolean;
  /**
   * The parameters of the passphrase slots this vault writes (created, re-sealed by passwd,
   * upgraded at unlock), within the accepted bounds. Default: today's (DEFAULT_POLICY); the CLI
   * never sets it. For programs that embed the library, such as the tests' cheap vaults.
   */
  passphraseKdf?: Partial<PassphraseKdfPolicy>;
}

export interface CreateOptions extends VaultContext {
  passphrase: Buffer;
  /** `scrypt` (default) or `pbkdf2`; the library API may also pass explicit parameters within the bounds */
  kdf?: PassphraseKdf | KdfSpec;
}

/** A refusal decided inside a transaction whose audit entry must still be committed. */
class Refusal {
  constructor(readonly error: VaultError) {}
}

/**
 * A refusal that the audit policy does not record (README, "What is recorded"): one the CLI
 * makes before unlocking (a name that does not exist, an existing name without --force), so
 * that the library, already unlocked, gives the same answer with the same log.
 */
export class Unrecorded {
  constructor(readonly error: VaultError) {}
}

/** An audit entry being filled in by its operation; the outcome comes from how it ends. */
export type AuditDraft = Omit<AuditEntry, 'outcome'>;

/** The outcome recorded for each kind of refusal. */
const OUTCOME_OF: Partial<Record<VaultError['code'], AuditEntry['outcome']>> = {
  'not-found': 'not-found',
  expired: 'expired',
  integrity: 'failed',
  usage: 'denied',
  exists: 'denied',
  // a refusal by the operation's own last step (e.g. an output file that cannot be written)
  error: 'denied',
};

/** Operations that only read secrets: their audit entry is the only thing they write. */
const READ_OPS: ReadonlySet<string> = new Set(['get', 'exec', 'env', 'export', 'inject']);


/**
 * One vault file. Opening it needs no key: names, versions, slots and status are readable
 * while locked (and are then only what the file says). Reading or changing a value or a
 * slot needs the data key, which an unlock recovers from a key slot (src/keyring); the
 * unlock then checks the whole vault's state record and the rollback anchor before anything
 * is served. Every operation that reads or changes a secret or a slot writes its audit
 * entry in the same transaction (docs/readme/audit.md has the policy).
 */
export class Vault {
  private dataKey: Buffer | null = null;
  /** the audit keys, oldest first, each with the first seq it MACs; the last one is current */
  private auditKeys: AuditKey[] = [];
  private anchorKey: Buffer | null = null;
  private usedSlot: string | null = null;
  /** the used slot's KEK, for re-sealing it at rotate --master; wiped at close */
  private usedKek: Buffer | null = null;
  private changed = false;
  private stateCounter = 0;
  private seenDataVersion = -1;
  private readonly now: () => number;
  private readonly actor: Actor;
  private readonly anchor: RollbackAnchor;
  private readonly acceptRestore: boolean;
  /** the parameters passphrase slots written by this vault take (VaultContext.passphraseKdf) */
  readonly kdfPolicy: PassphraseKdfPolicy;
  /** what an unlock with acceptRestore accepted: the anchor's state and the file's, or 'unverifiable' */
  accepted: { from: { state: number; audit: number } | 'unverifiable'; to: { state: number; audit: number } } | null = null;

  private constructor(
    readonly path: string,
    /** where the rows live: a SQLite file or a PostgreSQL schema (src/store/store.ts) */
    readonly store: Store,
    readonly id: string,
    private format: number,
    ctx: VaultContext,
  ) {
    this.now = ctx.now ?? Date.now;
    this.actor = ctx.actor ?? currentActor();
    this.anchor = new RollbackAnchor(ctx.anchorDir === undefined ? defaultAnchorDir(process.env) : ctx.anchorDir, id, path);
    this.acceptRestore = ctx.acceptRestore === true;
    this.kdfPolicy = kdfPolicy(ctx.passphraseKdf);
  }

  /** Creates a new vault with one passphrase slot and returns it unlocked. */
  static async create(path: string, options: CreateOptions): Promise<Vault> {
    const spec = typeof options.kdf === 'object' ? options.kdf : defaultKdf(options.kdf ?? 'scrypt', kdfPolicy(options.passphraseKdf));
    if (spec.name !== 'scrypt' && spec.name !== 'pbkdf2-sha256') throw new VaultError('usage', 'a passphrase slot needs scrypt or pbkdf2');
    parseKdf(spec.name, canonicalParams(spec));
    const dataKey = randomBytes(32);
    const id = randomBytes(16).toString('hex');
    const now = (options.now ?? Date.now)();
    // Validate (and spend the KDF time) before the file exists, so a failure leaves nothing behind.
    const { row, kek } = await buildSlot(id, 'passphrase', null, spec, options.passphrase, dataKey, now);
    const store = createStore(path, options);
    const vault = new Vault(store.location, store, id, FORMAT_VERSION, options);
    vault.dataKey = dataKey;
    vault.auditKeys = [{ fromSeq: 1, key: randomBytes(32) }];
    const anchorKey = randomBytes(32);
    vault.anchorKey = anchorKey;
    vault.usedSlot = row.id;
    vault.usedKek = kek;
    try {
      store.write(() => {
        store.setMeta('vault_id', id);
        store.setMeta('format_version', String(FORMAT_VERSION));
        store.setMeta('created_at', String(now));
        writeSealedKeys(store, id, dataKey, vault.auditKeys, anchorKey);
        store.insertSlot(row);
        vault.changed = true;
        vault.record({ op: 'init', outcome: 'ok', detail: { kdf: spec.name } });
        vault.writeState(dataKey);
      });
    } catch (e) {
      // A vault that could not be completed must not stay behind to block a retry with `exists`.
      vault.close();
      if (store.kind === 'file') for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
      throw asStoreError(e, path);
    }
    vault.afterCommit();
    return vault;
  }

  /** Opens an existing vault, locked. */
  static open(path: string, options: StoreOptions & VaultContext = {}): Vault {
    const store = openStore(path, options);
    path = store.location;
    try {
      const id = store.getMeta('vault_id');
      const format = store.getMeta('format_version');
      if (id === undefined || format === undefined) throw new VaultError('integrity', `${path} is not a vault file or is damaged`);
      if (!/^[0-9a-f]{32}$/.test(id)) throw integrity(`the vault id of ${path} is malformed`);
      if (format !== '1' && format !== String(FORMAT_VERSION)) {
        throw new VaultError('integrity', `the vault at ${path} has format ${format}, which this vault cannot read`);
      }
      return new Vault(path, store, id, Number(format), options);
    } catch (e) {
      store.close();
      throw asStoreError(e, path);
    }
  }

  close(): void {
    forgetSecretMacKey(this.dataKey);
    wipe(this.dataKey, this.anchorKey, this.usedKek, ...this.auditKeys.map((k) => k.key));
    this.dataKey = null;
    this.anchorKey = null;
    this.usedKek = null;
    this.auditKeys = [];
    this.store.close();
  }

  get unlocked(): boolean {
    return this.dataKey !== null;
  }

  /** The SQLite connection of a file vault (tests reach into it); a PostgreSQL vault has none. */
  get database(): Database {
    if (!(this.store instanceof SqliteStore)) throw new VaultError('usage', 'a PostgreSQL vault has no SQLite database');
    return this.store.db;
  }

  /** The clock this vault was opened with; epoch milliseconds. */
  time(): number {
    return this.now();
  }

  // ---- slots and unlocking ------------------------------------------------------------

  slots(): SlotInfo[] {
    return this.store.allSlots().map(slotInfo);
  }

  hasSlot(kind: SlotKind): boolean {
    return this.store.hasSlotKind(kind);
  }

  /**
   * Tries every passphrase slot. Wrong passphrase: auth-failed, with no hint of why; with
   * `quiet` (a team vault that may be opened by identity next): false, nothing recorded.
   */
  async unlockWithPassphrase(passphrase: Buffer): Promise<void>;
  async unlockWithPassphrase(passphrase: Buffer, options: { quiet: true }): Promise<boolean>;
  async unlockWithPassphrase(passphrase: Buffer, options: { quiet?: boolean } = {}): Promise<boolean | void> {
    const opened = await this.unlockKind('passphrase', passphrase, options.quiet === true);
    if (!opened) return false;
    const spec = parseKdf(opened.row.kdf, opened.row.kdf_params);
    if (isBelowDefaults(spec, this.kdfPolicy)) await this.upgradeKdf(opened.row, spec, passphrase);
    return true;
  }

  /** Tries every master-key slot with the KEK derived from the raw 32-byte key; `quiet` as unlockWithPassphrase. */
  async unlockWithMasterKey(rawKey: Buffer): Promise<void>;
  async unlockWithMasterKey(rawKey: Buffer, options: { quiet: true }): Promise<boolean>;
  async unlockWithMasterKey(rawKey: Buffer, options: { quiet?: boolean } = {}): Promise<boolean | void> {
    return (await this.unlockKind('master-key', rawKey, options.quiet === true)) !== null;
  }

  /** Unlocks with a keychain slot's KEK, as read from the OS keychain. */
  async unlockWithKeychainKek(slotId: string, kek: Buffer): Promise<void> {
    const row = this.store.slotById(slotId);
    if (!row || row.kind !== 'keychain') throw new VaultError('not-found', `no keychain slot ${slotId}`);
    const opened = await unlockSlots(this.id, [row], kek, true);
    if (!opened) {
      this.recordFailedUnlock('keychain');
      throw authFailed();
    }
    this.finishUnlock(opened);
  }

  /** Whether `kek` opens the keychain slot `slotId`; the vault stays as locked or unlocked as it was. */
  async keychainKekOpens(slotId: string, kek: Buffer): Promise<boolean> {
    const row = this.store.slotById(slotId);
    if (!row || row.kind !== 'keychain' || kek.length !== 32) return false;
    try {
      const opened = await unlockSlots(this.id, [row], kek, true);
      if (!opened) return false;
      wipe(opened.dataKey, opened.kek);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Unlocks a team vault with a member's identity secret (src/core/identity.ts): the member
   * slot whose public key is the identity's. Its pending link (not opened yet) or its sealed
   * wrap gives the data key, checked as any slot's; a first open seals the slot. No member
   * slot has this key: auth-failed with how to be added, recorded as a failed unlock.
   */
  async unlockWithIdentity(secret: Buffer): Promise<{ member: string; firstOpen: boolean }> {
    if (secret.length !== 32) throw new VaultError('integrity', 'the identity secret is not a 32-byte key');
    const pub = slotPublicKey(secret);
    const members = this.store.slotsOfKind('member');
    if (members.length > MAX_ALL_SLOTS) throw tooManySlots(members.length);
    const row = members.find((r) => r.public_key !== null && r.public_key.equals(pub));
    const opened = row ? await unlockSlots(this.id, [row], secret, false) : null;
    if (!row || !opened) {
      this.recordFailedUnlock('member');
      throw notAMember(pub);
    }
    this.finishUnlock(opened);
    return { member: row.label ?? '', firstOpen: isUnopenedMember(row) };
  }

  /**
   * A short fingerprint of this vault that a key holder can read out to a new member: a MAC
   * of the vault id under the anchor key, which rotate --master keeps. A vault forged under
   * another key (a server that made a member's first open reach a data key of its own) has
   * another. Five groups of four hex digits, as identity fingerprints.
   */
  fingerprint(): string {
    this.requireKey();
    return inGroups(mac(this.anchorKey!, 'vault/vault-fingerprint/v1', [this.id]).toString('hex'));
  }

  private async unlockKind(kind: SlotKind, secret: Buffer, quiet = false, again = true): Promise<OpenedSlot | null> {
    const rows = this.store.slotsOfKind(kind);
    if (rows.length === 0) throw new VaultError('not-found', `the vault has no ${kind} slot`);
    const opened = await unlockSlots(this.id, rows, secret, true);
    if (!opened && quiet) return null;
    if (!opened) {
      this.recordFailedUnlock(kind);
      throw authFailed();
    }
    try {
      this.finishUnlock(opened);
    } catch (e) {
      // Another process rotated the data key between the read of the slots and the check of
      // the key they gave (its commit landed in between): unlock again, once, from the new
      // rows, with every check again.
      if (again && e instanceof VaultError && (e.code === 'integrity' || e.message === ROTATED_MEANWHILE) && this.slotChanged(opened.row)) {
        return this.unlockKind(kind, secret, quiet, false);
      }
      throw e;
    }
    return opened;
  }

  private slotChanged(row: SlotRow): boolean {
    const now = this.store.slotById(row.id);
    const same = (a: Buffer | null, b: Buffer | null): boolean => (a === null || b === null ? a === b : a.equals(b));
    return now === undefined || !same(now.wrapped_key, row.wrapped_key) || !same(now.nonce, row.nonce) || !same(now.pending, row.pending);
  }

  /**
   * The slot gave a data key: check that it is the vault's (the audit keys open under it,
   * every slot's MAC, the state record, the anchor), then hold it. A legacy vault (format 1)
   * is upgraded here; a stale slot is re-sealed.
   */
  private finishUnlock(opened: OpenedSlot): void {
    const { dataKey } = opened;
    try {
      if (this.format === 1) {
        this.anchor.checkFormat(this.format);
        this.upgrade(opened);
      } else {
        const keys = this.verifiedKeys(dataKey);
        if (!keys) {
          // The slot was read before another process's rotate --master (or member rm) committed
          // and the vault's keys after: not tampering, a race. The slot as it is now tells.
          if (this.slotChanged(opened.row)) throw rotatedMeanwhile();
          throw integrity('the data key this slot holds is not the vault\'s: the vault\'s own keys do not open under it');
        }
        this.dataKey = dataKey;
        this.auditKeys = keys.auditKeys;
        this.anchorKey = keys.anchorKey;
      }
    } catch (e) {
      forgetSecretMacKey(dataKey);
      wipe(dataKey, opened.kek);
      throw e;
    }
    this.usedSlot = opened.row.id;
    this.usedKek = opened.kek;
    this.seenDataVersion = this.dataVersion();
    this.checkAnchor();
    if (opened.stale && this.format === FORMAT_VERSION) {
      const row = this.store.slotById(opened.row.id);
      if (row && (row.wrap_format !== FORMAT_VERSION || row.pending)) {
        this.transact(() => {
          this.store.replaceSlot(sealSlot(this.id, row!, opened.kek, this.requireKey()));
          this.changed = true;
          this.record({ op: 'key-update', outcome: 'ok', detail: { slot: row!.id, from: row!.wrap_format === 1 ? 'legacy' : 'pending' } });
        });
      }
    }
  }

  /**
   * The vault's own keys (audit keys, anchor key) opened under `dataKey`, after every slot MAC
   * and the state record verified under it; null when the keys do not open (the key is not, or
   * no longer, this vault's). One read transaction: a consistent snapshot while others commit.
   */
  private verifiedKeys(dataKey: Buffer): { auditKeys: AuditKey[]; anchorKey: Buffer } | null {
    return this.store.read(() => {
      const auditKeys = openAuditKeys(this.store, this.id, dataKey);
      const anchorKey = openAnchorKey(this.store, this.id, dataKey);
      if (!auditKeys || !anchorKey) {
        wipe(anchorKey, ...(auditKeys ?? []).map((k) => k.key));
        return null;
      }
      try {
        this.verifyState(dataKey);
      } catch (e) {
        wipe(anchorKey, ...auditKeys.map((k) => k.key));
        throw e;
      }
      return { auditKeys, anchorKey };
    });
  }

  /**
   * Unlocks with the data key itself, as a session agent holds it (src/agent): no slot is
   * opened, and everything an ordinary unlock checks after its slot gave a key is checked the
   * same way (the vault's own keys open under it, every slot MAC, the state record, the
   * rollback anchor). Resolves false, and stays locked, when the vault's own keys do not open
   * under the key: it is not, or no longer (rotate --master since), this vault's key. A key
   * that opens them but fails the state check is tampering: integrity, as for any unlock.
   * The caller keeps `dataKey` (this takes a copy). A 0.1 vault needs a slot: false.
   */
  unlockWithDataKey(dataKey: Buffer): boolean {
    if (this.format !== FORMAT_VERSION || dataKey.length !== 32 || this.dataKey) return false;
    const key = Buffer.from(dataKey);
    let keys;
    try {
      keys = this.verifiedKeys(key);
    } catch (e) {
      wipe(key);
      throw e;
    }
    if (!keys) {
      wipe(key);
      return false;
    }
    this.dataKey = key;
    this.auditKeys = keys.auditKeys;
    this.anchorKey = keys.anchorKey;
    this.usedSlot = null;
    this.usedKek = null;
    this.seenDataVersion = this.dataVersion();
    try {
      this.checkAnchor();
    } catch (e) {
      this.lockAgain();
      throw e;
    }
    return true;
  }

  /** A copy of the data key for a session agent (`vault unlock`), or for refreshing one after rotate --master. The caller wipes it. */
  dataKeyCopy(): Buffer {
    return Buffer.from(this.requireKey());
  }

  private lockAgain(): void {
    wipe(this.dataKey, this.anchorKey, ...this.auditKeys.map((k) => k.key));
    this.dataKey = null;
    this.anchorKey = null;
    this.auditKeys = [];
  }

  /** Every slot's MAC and the state record's MAC over the digest of all slot and secret MACs. */
  private verifyState(dataKey: Buffer): void {
    // Every read in one (read) transaction, or a nested savepoint inside a write: the slots,
    // the secrets and the record must come from the same commit.
    this.store.read(() => this.verifyStateIn(dataKey));
  }

  private verifyStateIn(dataKey: Buffer): void {
    const all = this.store.allSlots();
    if (all.length > MAX_ALL_SLOTS) throw tooManySlots(all.length);
    for (const row of all) {
      if (!slotMacOk(this.id, dataKey, row)) throw integrity(`key slot ${row.id} failed its integrity check: it was added or edited without a key`);
    }
    const state = parseState(this.store.getMeta('state'));
    if (!state) throw integrity('the vault state record is missing or malformed');
    const expected = stateMac(this.id, dataKey, state.counter, stateDigest(all, this.secretDigestRows(), this.store.grantMacs()));
    if (!macEqual(state.mac, expected)) {
      throw integrity('the vault\'s secrets or key slots do not match its state record: rows were rolled back, removed, added or edited');
    }
    this.stateCounter = state.counter;
  }

  /** Inside a write transaction that changed secrets or slots: the next state record. */
  private writeState(dataKey: Buffer): void {
    const counter = this.stateCounter + 1;
    const digest = stateDigest(this.store.allSlots(), this.secretDigestRows(), this.store.grantMacs());
    this.store.setMeta('state', `${counter}:${stateMac(this.id, dataKey, counter, digest).toString('hex')}`);
    this.stateCounter = counter;
    this.changed = false;
  }

  /** The secrets of the state digest: encoded by the store when it can (read before the grants: see PgStore.secretMacs). */
  private secretDigestRows(): Iterable<{ id: number; mac: Buffer | null }> | { encoded: Iterable<Buffer> } {
    return this.store.secretDigestRows ? { encoded: this.store.secretDigestRows() } : this.store.secretMacs();
  }

  private dataVersion(): number {
    return this.store.dataVersion();
  }

  // ---- the rollback anchor (src/core/rollback-anchor.ts) -------------------------------

  private view(): AnchorView {
    return { state: this.stateCounter, audit: this.store.chainStatus().head?.seq ?? 0, format: this.format };
  }

  /** After the state was verified: the file must not be older than what this user saw. */
  private checkAnchor(): void {
    const accept = this.anchor.check(this.anchorKey!, this.view(), () => {
      // The process that moved the anchor may have rotated the data key (rotate --master,
      // member rm): the key this one holds then opens nothing newer, which is not tampering.
      const key = this.requireKey();
      const rotated = this.store.read(() => {
        const keys = openAuditKeys(this.store, this.id, key);
        if (!keys) return true;
        wipe(...keys.map((k) => k.key));
        this.verifyStateIn(key);
        return false;
      });
      if (rotated) {
        this.lockAgain();
        throw rotatedMeanwhile();
      }
      return this.view();
    }, this.acceptRestore);
    if (accept === null) return;
    this.accepted = accept;
    this.transact(() => this.record({ op: 'accept-restore', outcome: 'ok', detail: { ...accept } }));
    this.anchor.save(this.anchorKey!, this.view(), true);
  }

  private afterCommit(): void {
    this.seenDataVersion = this.dataVersion();
    if (this.anchorKey) this.anchor.save(this.anchorKey, this.view());
  }

  // ---- upgrade from release 0.1 -------------------------------------------------------

  /**
   * Format 1 -> 2, at the first unlock by this release, in one transaction: every version
   * re-encrypted under the new associated data (uid, expiry, origin, time), every secret
   * given a uid and a MAC, the unlocking slot sealed, every slot MACed, the audit key moved
   * into the key list, an anchor key and the state record made. The slot's 0.1 wrap is
   * trusted this once (nothing in a 0.1 file could authenticate it; docs/security.md).
   */
  private upgrade(opened: OpenedSlot): void {
    const dataKey = opened.dataKey;
    const auditKey = openLegacyAuditKey(this.store, this.id, dataKey);
    if (!auditKey) throw integrity('the vault audit key failed its check');
    this.dataKey = dataKey;
    this.auditKeys = [{ fromSeq: 1, key: auditKey }];
    this.anchorKey = randomBytes(32);
    this.seenDataVersion = this.dataVersion();
    try {
      this.transact(() => {
        const { secrets, versions } = upgradeRows(this.store, this.id, opened);
        this.store.deleteMeta('audit_key');
        writeSealedKeys(this.store, this.id, dataKey, this.auditKeys, this.anchorKey!);
        this.store.setMeta('format_version', String(FORMAT_VERSION));
        this.format = FORMAT_VERSION;
        this.changed = true;
        this.record({ op: 'upgrade', outcome: 'ok', detail: { from: 1, to: FORMAT_VERSION, secrets, versions } });
      });
    } catch (e) {
      this.format = 1;
      this.dataKey = null;
      wipe(auditKey, this.anchorKey);
      this.auditKeys = [];
      this.anchorKey = null;
      throw e;
    }
    opened.stale = false;
  }

  /** Re-seals a passphrase slot whose KDF parameters are below the policy's (today's defaults). */
  private async upgradeKdf(row: SlotRow, spec: KdfSpec, passphrase: Buffer): Promise<void> {
    const family: PassphraseKdf = spec.name === 'scrypt' ? 'scrypt' : 'pbkdf2';
    const { row: fresh, kek } = await buildSlot(this.id, 'passphrase', row.label, defaultKdf(family, this.kdfPolicy), passphrase, this.requireKey(), row.created_at, row.id);
    this.transact(() => {
      this.store.replaceSlot(fresh);
      this.changed = true;
      this.record({ op: 'kdf-upgrade', outcome: 'ok', detail: { slot: row.id, from: `${row.kdf} ${row.kdf_params}`, to: `${fresh.kdf} ${fresh.kdf_params}` } });
    });
    wipe(this.usedKek);
    this.usedKek = kek;
  }

  // ---- what the keyring operations (src/keyring, src/unlock/slots.ts) use ---------------

  requireKey(): Buffer {
    if (!this.dataKey) throw new VaultError('locked', 'the vault is locked');
    return this.dataKey;
  }

  /** The slot this process unlocked with, and its KEK (rotate --master re-seals it directly). */
  unlockedSlot(): { id: string; kek: Buffer } | null {
    return this.usedSlot && this.usedKek ? { id: this.usedSlot, kek: this.usedKek } : null;
  }

  /** Stores a slot (new or replaced) inside transact(); its MAC is recomputed under the held key. */
  saveSlot(row: SlotRow, replace: boolean): void {
    const fresh = { ...row, key_mac: slotMac(this.id, this.requireKey(), row) };
    if (replace) this.store.replaceSlot(fresh);
    else this.store.insertSlot(fresh);
    this.changed = true;
  }

  /** Stores a slot exactly as given (rotate --master: its MAC is already under the new key). */
  replaceSlotRow(row: SlotRow): void {
    this.store.replaceSlot(row);
    this.changed = true;
  }

  removeSlotRow(id: string): void {
    this.store.deleteSlot(id);
    this.changed = true;
  }

  /** The slot rows (for the keyring operations; no key material leaves the keyring). */
  slotRows(kind?: SlotKind): SlotRow[] {
    return kind === undefined ? this.store.allSlots() : this.store.slotsOfKind(kind);
  }

  /**
   * rotate --master: inside its transaction, after every version and slot was rewritten under
   * `newKey`: re-MAC every secret, start a new audit key (the rekey entry, recorded by the
   * caller just before, is the last one under the old key), re-seal the kept anchor key, and
   * write the state record under the new key.
   */
  rekey(newKey: Buffer): { nextAuditKey: AuditKey } {
    for (const s of this.store.allSecrets()) this.store.updateSecret({ ...s, mac: secretMac(this.id, newKey, s) });
    for (const g of this.store.allGrants()) this.store.updateGrant({ ...g, mac: grantMac(this.id, newKey, g) });
    const next: AuditKey = { fromSeq: this.view().audit + 1, key: randomBytes(32) };
    writeSealedKeys(this.store, this.id, newKey, [...this.auditKeys, next], this.anchorKey!);
    this.store.retagHead(next.key, this.id);
    this.changed = true;
    this.writeState(newKey);
    return { nextAuditKey: next };
  }

  /** After the rotation committed: hold the new data key and audit key. */
  adoptKeys(newKey: Buffer, nextAuditKey: AuditKey): void {
    if (this.dataKey !== newKey) {
      forgetSecretMacKey(this.dataKey);
      wipe(this.dataKey);
    }
    this.dataKey = newKey;
    this.auditKeys = [...this.auditKeys, nextAuditKey];
    this.afterCommit();
  }

  /**
   * Inside a write transaction: the key held here is still the vault's, and if another
   * connection changed the file since this one last looked (PRAGMA data_version), the state
   * record still verifies. Another process may have run `rotate --master` since this one
   * unlocked; writing or reading with the old key then would mix keys in one file.
   */
  private checkCurrent(): void {
    if (!this.dataKey) return;
    const version = this.dataVersion();
    if (version === this.seenDataVersion) return;
    const keys = openAuditKeys(this.store, this.id, this.dataKey);
    if (!keys) {
      throw new VaultError('error', 'the vault key was rotated by another process after this one unlocked; nothing was done', {
        hint: 'run the command again',
      });
    }
    const current = keys[keys.length - 1]!;
    const mine = this.auditKeys[this.auditKeys.length - 1];
    if (!mine || !current.key.equals(mine.key)) {
      wipe(...this.auditKeys.map((k) => k.key));
      this.auditKeys = keys;
    } else {
      wipe(...keys.map((k) => k.key));
    }
    this.verifyState(this.dataKey);
    this.seenDataVersion = version;
  }

  /**
   * Writes one audit entry; call only inside a write transaction. The first entry of an
   * unlocked session also stamps the slot that unlocked it as used.
   */
  record(entry: AuditEntry): void {
    const key = this.auditKeys[this.auditKeys.length - 1];
    if (!key) throw new VaultError('locked', 'the vault is locked');
    try {
      if (this.usedSlot) this.store.touchSlot(this.usedSlot, this.now());
      this.store.appendAudit(key.key, this.id, entry, this.actor, this.now());
    } catch (e) {
      if (unreachable(e)) throw e;
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
   * the chain. Best effort: a vault that cannot be written must not turn the auth failure into
   * another error.
   */
  recordFailedUnlock(method: SlotKind | 'session'): void {
    const entry = { op: 'unlock', outcome: 'denied', detail: { method } } as const;
    try {
      if (this.auditKeys.length > 0) this.transact(() => this.record(entry));
      else this.store.appendPending(entry, this.actor, this.now());
    } catch {
      // deliberately ignored: see above
    }
  }

  /** Every matching audit entry, oldest first; needs no key (entries hold no values). */
  auditLog(filter: AuditFilter = {}): AuditRecord[] {
    return this.store.queryAudit(filter);
  }

  /** Checks the whole audit chain under the audit keys; reads only. */
  verifyAudit(): AuditVerification {
    if (this.auditKeys.length === 0) throw new VaultError('locked', 'the vault is locked');
    return this.store.verifyChain(this.auditKeys, this.id);
  }

  /**
   * One audited operation, the policy in one place (README, "What is recorded"): `fn` runs in
   * one write transaction and fills in `entry` (version, detail) as it learns them; exactly
   * one entry is written. `fn` returns: outcome `ok`, committed with its changes before the
   * result is returned (a read's value leaves only after its entry is durable; `discard`
   * wipes it when the entry cannot be written). `fn` throws a refusal (a VaultError of
   * OUTCOME_OF): its changes are undone (a savepoint), the refusal's outcome is recorded and
   * committed, then the refusal is thrown. `Unrecorded`: undone, thrown, no entry. Anything
   * else: everything rolls back, the entry too, and the error is thrown.
   */
  audited<T>(entry: AuditDraft, fn: (entry: AuditDraft) => T, discard?: (out: T) => void): T {
    this.requireKey();
    // A read changes nothing but the log: its commit is not fsynced (synchronous=NORMAL in WAL
    // mode). A crashed or killed process still loses nothing that committed (the WAL is
    // written before the value is released); a power cut can lose the entries of reads made
    // since the last checkpoint or change (docs/security.md, "What a power cut can lose").
    const read = READ_OPS.has(entry.op);
    if (read) this.store.relaxedCommits(true);
    try {
      return this.auditedIn(entry, fn, discard);
    } finally {
      if (read && this.store.isOpen) this.store.relaxedCommits(false);
    }
  }

  private auditedIn<T>(entry: AuditDraft, fn: (entry: AuditDraft) => T, discard?: (out: T) => void): T {
    return this.transact(() => {
      const changedBefore = this.changed;
      let out: T;
      try {
        out = this.store.savepoint(() => fn(entry));
      } catch (e) {
        this.changed = changedBefore;
        if (e instanceof Unrecorded) return new Refusal(e.error);
        const outcome = e instanceof VaultError ? OUTCOME_OF[e.code] : undefined;
        // A store that cannot be reached cannot record a refusal either.
        if (outcome === undefined || unreachable(e)) throw e;
        this.record({ ...entry, outcome });
        return new Refusal(e as VaultError);
      }
      try {
        this.record({ ...entry, outcome: 'ok' });
      } catch (e) {
        discard?.(out);
        throw e;
      }
      return out;
    });
  }

  /** Runs fn in BEGIN IMMEDIATE; a Refusal returned by fn is thrown after its entry commits. */
  transact<T>(fn: () => T | Refusal): T {
    let out: T | Refusal;
    try {
      out = this.store.write(() => {
        this.checkCurrent();
        const result = fn();
        if (this.changed) this.writeState(this.requireKey());
        return result;
      });
    } catch (e) {
      this.changed = false;
      throw asStoreError(e, this.path);
    }
    this.afterCommit();
    if (out instanceof Refusal) throw out.error;
    return out;
  }

  // ---- reading ------------------------------------------------------------------------

  /** What the file lists; while locked it is what the file says, unverified (docs/security.md). */
  list(options: { ns?: string; prefix?: string } = {}): SecretInfo[] {
    const now = this.now();
    const { ns, prefix } = options;
    const out: SecretInfo[] = [];
    for (const r of this.store.listedSecrets(ns ?? null)) {
      if (prefix !== undefined && !r[0].startsWith(prefix)) continue;
      out.push({
        ns: ns ?? r[8]!,
        name: r[0],
        version: r[1],
        description: r[2],
        createdAt: r[3],
        updatedAt: r[4],
        expiresAt: r[5],
        expired: r[5] !== null && r[5] <= now,
        notSecret: r[6] === 1,
        rotationDue: r[7] === 1,
      });
    }
    return out;
  }

  /** Versions of one secret, oldest first; a removed secret keeps its versions until purged. */
  history(ref: SecretRef): { removed: boolean; versions: VersionInfo[] } {
    const secret = this.findSecret(ref, true);
    if (!secret) throw notFound(ref);
    const rows = this.store.versionsOf(secret.id);
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
    return this.audited(
      { op: 'get', ns: ref.ns, name: ref.name, version: options.version ?? null },
      (entry) => {
        const secret = this.findSecret(ref, false);
        if (!secret) throw new Unrecorded(notFound(ref));
        const version = options.version ?? secret.current_version;
        entry.version = version;
        const row = this.store.findVersion(secret.id, version);
        // The current version's row gone while the record (under its MAC) names it: tampering.
        if (!row) throw options.version === undefined ? tampered(ref, version) : notFoundVersion(ref, version);
        if (row.expires_at !== null && row.expires_at <= this.now() && !options.allowExpired) throw expired(ref, row.expires_at);
        const value = this.openVersion(secret, row);
        if (!value) throw tampered(ref, row.version);
        return { ns: ref.ns, name: ref.name, version: row.version, value, expiresAt: row.expires_at };
      },
      (out) => wipe(out.value), // no entry, no value: it never leaves this method
    );
  }

  // ---- writing ------------------------------------------------------------------------

  /** Stores a new version. An existing (not removed) name needs `force`. */
  put(ref: SecretRef, value: Buffer, options: PutOptions = {}): { version: number } {
    checkValueSize(value);
    return this.audited({ op: options.origin === 'rotate' ? 'rotate' : 'put', ns: ref.ns, name: ref.name }, (entry) => {
      const secret = this.findSecret(ref, true, true);
      if (secret && secret.removed_at === null && !options.force) {
        throw new Unrecorded(new VaultError('exists', `secret ${formatRef(ref)} already exists`, { hint: 'use --force to store a new version, or vault rotate' }));
      }
      entry.version = this.storeVersion(ref, secret, value, options);
      return { version: entry.version };
    });
  }

  /** Makes a new version whose value is that of `version`. Restores a removed secret. */
  rollback(ref: SecretRef, version: number): { version: number } {
    return this.audited({ op: 'rollback', ns: ref.ns, name: ref.name, version }, (entry) => {
      const secret = this.findSecret(ref, true);
      if (!secret) throw new Unrecorded(notFound(ref));
      const row = this.store.findVersion(secret.id, version);
      if (!row) throw new Unrecorded(notFoundVersion(ref, version));
      const value = this.openVersion(secret, row);
      if (!value) throw tampered(ref, version);
      try {
        entry.version = this.storeVersion(ref, secret, value, { force: true, expiresAt: row.expires_at, origin: `rollback:${version}` });
        entry.detail = { from: version };
        return { version: entry.version };
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
    return this.audited({ op: 'rotate', ns: ref.ns, name: ref.name, detail: options.detail ?? null }, (entry) => {
      const secret = this.findSecret(ref, false);
      if (!secret) throw new Unrecorded(notFound(ref));
      const current = this.store.findVersion(secret.id, secret.current_version);
      const now = this.now();
      let expiresAt = options.expiresAt ?? null;
      if (options.expiresAt === undefined && current && current.expires_at !== null) expiresAt = now + Math.max(0, current.expires_at - current.created_at);
      entry.version = this.storeVersion(ref, secret, value, { force: true, expiresAt, origin: 'rotate' }, now);
      return { version: entry.version };
    });
  }

  /**
   * Removes a secret from use; `purge` also destroys every stored version. A purged secret
   * keeps its row (a tombstone: the highest version, a new uid), so a version number is never
   * used twice and no old ciphertext can ever match it again.
   */
  rm(ref: SecretRef, options: { purge?: boolean } = {}): { versions: number } {
    const key = this.requireKey();
    const result = this.audited({ op: 'rm', ns: ref.ns, name: ref.name, detail: { purge: !!options.purge } }, (entry) => {
      const secret = this.findSecret(ref, true);
      if (!secret || (secret.removed_at !== null && !options.purge)) throw new Unrecorded(notFound(ref));
      entry.version = secret.current_version;
      const count = this.store.countVersionsOf(secret.id);
      const now = this.now();
      const row: SecretRow = { ...secret, removed_at: now, updated_at: now };
      if (options.purge) {
        this.store.deleteVersions(secret.id);
        row.uid = randomBytes(16);
        row.expires_at = null;
        row.description = null;
      }
      this.store.updateSecret({ ...row, mac: secretMac(this.id, key, row) });
      this.changed = true;
      return { versions: count };
    });
    // The zeroed pages sit in the WAL until a checkpoint; while another process holds the file
    // open none happens at close, and vault.db would keep the purged ciphertexts. Best effort.
    if (options.purge) this.store.scrub(); // best effort: deferred otherwise, as above
    return result;
  }

  /**
   * A new version from `vault edit`: stored only while the current version is still `base`
   * (the one the editor was given; another writer meanwhile: refused, nothing saved), with
   * origin `edit`, keeping the secret's lifetime as rotate does. Audited as a `put`.
   */
  edit(ref: SecretRef, base: number, value: Buffer): { version: number } {
    checkValueSize(value);
    return this.audited({ op: 'put', ns: ref.ns, name: ref.name, detail: { via: 'edit' } }, (entry) => {
      const secret = this.findSecret(ref, false);
      if (!secret) throw new Unrecorded(notFound(ref));
      if (secret.current_version !== base) {
        throw new VaultError('error', `secret ${formatRef(ref)} changed while it was being edited (now version ${secret.current_version}); nothing saved`, {
          hint: `run vault edit ${formatRef(ref)} again`,
        });
      }
      const current = this.store.findVersion(secret.id, secret.current_version);
      const now = this.now();
      const expiresAt = current && current.expires_at !== null ? now + Math.max(0, current.expires_at - current.created_at) : null;
      entry.version = this.storeVersion(ref, secret, value, { force: true, expiresAt, origin: 'edit' }, now);
      return { version: entry.version };
    });
  }

  /**
   * Renames a current secret, in its namespace or into another (`vault mv`). The secret keeps
   * its row, uid, versions and history: its ciphertexts are bound to the uid, not to the name,
   * so none is re-encrypted. The row's MAC binds the namespace and name, so it is recomputed
   * under the new ones, with the state record, in the same transaction as the audit entry
   * (op `mv`, the old name, detail `to`). Refused, unrecorded like `put` of an existing name:
   * a missing or removed OLD (not-found), a NEW held by any secret, current or removed (exists:
   * a removed secret keeps its name for `rollback`, and a version number is never used twice).
   */
  move(from: SecretRef, to: SecretRef): { version: number } {
    const key = this.requireKey();
    return this.audited({ op: 'mv', ns: from.ns, name: from.name, detail: { to: formatRef(to) } }, (entry) => {
      const secret = this.findSecret(from, false);
      if (!secret) throw new Unrecorded(notFound(from));
      const clash = moveClash(this.findSecret(to, true, true), from, to);
      if (clash) throw new Unrecorded(clash);
      entry.version = secret.current_version;
      const row: SecretRow = { ...secret, ns: to.ns, name: to.name, updated_at: this.now() };
      this.store.updateSecret({ ...row, mac: secretMac(this.id, key, row) });
      this.changed = true;
      return { version: secret.current_version };
    });
  }

  // ---- internals shared with the other operations ----------------------------------------

  /**
   * The secret's row, or undefined (also for a purged one, unless `tombstones`). With a key
   * held, its MAC is checked first: an edited or rolled-back row is refused (integrity),
   * never served.
   */
  findSecret(ref: SecretRef, includeRemoved: boolean, tombstones = false): SecretRow | undefined {
    return this.checkSecret(this.store.findSecret(ref.ns, ref.name), includeRemoved, tombstones);
  }

  /** findSecret's checks on a row already read (import reads a namespace's rows at once). */
  checkSecret(row: SecretRow | undefined, includeRemoved: boolean, tombstones = false): SecretRow | undefined {
    if (!row) return undefined;
    if (this.dataKey && this.format === FORMAT_VERSION && !secretMacOk(this.id, this.dataKey, row)) {
      throw integrity(`secret ${formatRef(row)} failed its integrity check: its record was edited or rolled back`);
    }
    if (row.removed_at !== null && !includeRemoved) return undefined;
    if (row.removed_at !== null && !tombstones && this.store.countVersionsOf(row.id) === 0) return undefined;
    return row;
  }

  /** The names of a namespace's current secrets, as the file lists them (unchecked: for checks before unlocking). */
  currentNames(ns: string): string[] {
    return this.store.currentNames(ns);
  }

  /** Every row of a namespace by name, unchecked: pass each through checkSecret before use. */
  namespaceRows(ns: string): Map<string, SecretRow> {
    return this.store.secretsOfNamespace(ns);
  }

  /**
   * A namespace's current secrets with their current version rows, by name, in one query, one
   * at a time (nothing else may run on the store until the iteration ends); each secret's MAC
   * checked when a key is held (as currentSecrets), before it is handed out.
   */
  *currentWithVersions(ns: string): Generator<{ secret: SecretRow; row: VersionRow | undefined }> {
    const check = this.dataKey !== null && this.format === FORMAT_VERSION;
    for (const pair of this.store.currentWithVersions(ns)) {
      if (check && !secretMacOk(this.id, this.dataKey!, pair.secret)) throw integrity(`secret ${formatRef(pair.secret)} failed its integrity check: its record was edited or rolled back`);
      yield pair;
    }
  }

  /** A namespace's current secrets, by name; each one's MAC checked when a key is held. */
  currentSecrets(ns: string): SecretRow[] {
    const rows = this.store.currentSecrets(ns);
    if (this.dataKey && this.format === FORMAT_VERSION) {
      for (const row of rows) {
        if (!secretMacOk(this.id, this.dataKey, row)) throw integrity(`secret ${formatRef(row)} failed its integrity check: its record was edited or rolled back`);
      }
    }
    return rows;
  }

  /** One stored version of a secret, or undefined. */
  findVersion(secretId: number, version: number): VersionRow | undefined {
    return this.store.findVersion(secretId, version);
  }

  /** Decrypts one version row; null when it fails its integrity check. Needs the key. */
  openVersion(secret: SecretRow, row: VersionRow): Buffer | null {
    this.requireKey();
    if (!secret.uid) return null;
    return this.openSealed(row.nonce, row.ciphertext, this.valueAad(secret.uid, row));
  }

  /** The associated data a version's ciphertext is sealed with (needs no key). */
  valueAad(uid: Buffer, row: VersionRow): Buffer {
    return valueAad(this.id, uid, row);
  }

  /** Decrypts a ciphertext with its associated data (valueAad); null when it fails its check. Needs the key. */
  openSealed(nonce: Buffer, box: Buffer, aad: Buffer): Buffer | null {
    return open(this.requireKey(), nonce, box, aad);
  }

  /**
   * Stores the next version of a secret (a new secret when `secret` is undefined) inside
   * transact(); returns its number. The number is one above the highest ever used.
   */
  storeVersion(ref: SecretRef, secret: SecretRow | undefined, value: Buffer, options: PutOptions = {}, now = this.now()): number {
    checkValueSize(value);
    const key = this.requireKey();
    const uid = secret?.uid ?? publicRandom(16);
    const version = (secret?.highest_version ?? 0) + 1;
    const v: VersionRow = {
      secret_id: 0, version, nonce: Buffer.alloc(0), ciphertext: Buffer.alloc(0), size: value.length,
      expires_at: options.expiresAt ?? null, origin: options.origin ?? 'put', created_at: now,
    };
    const sealed = seal(key, value, valueAad(this.id, uid, v));
    const row: Omit<SecretRow, 'id' | 'mac'> = {
      ns: ref.ns,
      name: ref.name,
      uid,
      current_version: version,
      highest_version: version,
      description: options.description === undefined ? (secret?.description ?? null) : options.description,
      created_at: secret?.created_at ?? now,
      updated_at: now,
      removed_at: null,
      expires_at: v.expires_at,
      not_secret: options.notSecret === undefined ? (secret?.not_secret ?? 0) : options.notSecret ? 1 : 0,
      // A new value clears "rotation due" (member rm); a rollback brings an old value back, so it keeps it.
      rotation_due: v.origin.startsWith('rollback:') ? (secret?.rotation_due ?? 0) : 0,
    };
    const rowMac = secretMac(this.id, key, row);
    let id: number;
    if (secret) {
      id = secret.id;
      this.store.updateSecret({ ...row, id, mac: rowMac });
    } else {
      id = this.store.insertSecret({ ...row, mac: rowMac });
    }
    this.store.insertVersion({ ...v, secret_id: id, nonce: sealed.nonce, ciphertext: sealed.box });
    this.changed = true;
    return version;
  }

  // ---- grants (src/core/grants.ts has their rules) ------------------------------------------

  /**
   * A grant's row, or undefined. With a key held its MAC is checked: an edited, re-planted or
   * rolled-back row is refused (integrity), never used.
   */
  grantRow(name: string): GrantRow | undefined {
    const row = this.store.findGrant(name);
    if (row && this.dataKey && !grantMacOk(this.id, this.dataKey, row)) {
      throw integrity(`grant ${name} failed its integrity check: its record was edited or rolled back`);
    }
    return row;
  }

  /** Every grant, by name; each one's MAC checked when a key is held. */
  grantRows(): GrantRow[] {
    const rows = this.store.allGrants();
    if (this.dataKey) for (const row of rows) if (!grantMacOk(this.id, this.dataKey, row)) throw integrity(`grant ${row.name} failed its integrity check: its record was edited or rolled back`);
    return rows;
  }

  /** Stores a grant (new when id is 0) inside transact(), MACed under the held key; returns its id. */
  saveGrantRow(row: Omit<GrantRow, 'mac'>): number {
    const fresh = { ...row, mac: grantMac(this.id, this.requireKey(), row) };
    this.changed = true;
    if (row.id === 0) {
      const { id: _id, ...rest } = fresh;
      return this.store.insertGrant(rest);
    }
    this.store.updateGrant(fresh);
    return row.id;
  }

  /** Deletes a grant inside transact(). */
  deleteGrantRow(id: number): void {
    this.requireKey();
    this.store.deleteGrant(id);
    this.changed = true;
  }

  /** Counts and facts for `vault status`; needs no key. */
  status(): VaultStatus {
    const c = this.store.counts();
    const chain = this.store.chainStatus();
    const created = this.store.getMeta('created_at');
    return {
      path: this.path,
      vaultId: this.id,
      formatVersion: this.format,
      store: this.store.kind,
      schemaVersion: this.store.schemaVersion,
      createdAt: created ? Number(created) : null,
      slots: this.slots(),
      secrets: c.secrets,
      removed: c.removed,
      rotationDue: c.rotationDue,
      versions: c.versions,
      auditEntries: c.audit,
      auditHead: chain.head,
      auditPending: chain.pending,
    };
  }
}

export interface VaultStatus {
  path: string;
  /** `file` (SQLite) or `postgres` */
  store: 'file' | 'postgres';
  vaultId: string;
  formatVersion: number;
  schemaVersion: number;
  createdAt: number | null;
  slots: SlotInfo[];
  secrets: number;
  removed: number;
  /** current secrets a removed member could read (member rm), not rotated since */
  rotationDue: number;
  versions: number;
  auditEntries: number;
  auditHead: { seq: number; mac: string } | null;
  /** failed unlocks recorded while locked, not yet sealed into the chain */
  auditPending: number;
}

export { Refusal };

function slotInfo(row: SlotRow): SlotInfo {
  return {
    id: row.id,
    kind: row.kind,
    label: row.label,
    kdf: row.kdf,
    kdfParams: row.kdf_params,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    state: row.wrap_format === 1 ? 'legacy' : row.pending ? 'pending' : 'sealed',
  };
}

/** A store's connection failure (src/store/pg/bridge.ts): never a refusal to record. */
function unreachable(e: unknown): boolean {
  return e instanceof VaultError && e.details?.server === 'unreachable';
}

export function checkValueSize(value: Buffer): void {
  if (value.length > MAX_VALUE_BYTES) {
    throw new VaultError('usage', `value is ${value.length} bytes, more than the 1 MiB limit`);
  }
}

/** Another process rotated the data key while this one was unlocking (exit 1, not tampering). */
const ROTATED_MEANWHILE = 'the vault key was rotated by another process after this one unlocked; nothing was done';

function rotatedMeanwhile(): VaultError {
  return new VaultError('error', ROTATED_MEANWHILE, { hint: 'run the command again' });
}

/** An identity with no member slot in this vault: how to be added. */
export function notAMember(publicKey: Buffer): VaultError {
  return new VaultError('auth-failed', `your identity (fingerprint ${fingerprint(publicKey)}) is not a member of this vault`, {
    hint: 'ask a member to run: vault member add NAME <your key> (vault identity prints your key)',
  });
}

/** The one answer to a wrong passphrase or key, whatever part was wrong (SPEC §3). */
export function authFailed(): VaultError {
  return new VaultError('auth-failed', 'wrong passphrase or key');
}

/** Why `mv FROM TO` cannot take the name TO (held by `target`), or null when it can. */
export function moveClash(target: SecretRow | undefined, from: SecretRef, to: SecretRef): VaultError | null {
  if (from.ns === to.ns && from.name === to.name) return new VaultError('usage', `${formatRef(from)} and ${formatRef(to)} are the same secret`);
  if (!target) return null;
  if (target.removed_at === null) {
    return new VaultError('exists', `secret ${formatRef(to)} already exists`, { hint: `choose another name, or move that one away first (vault mv ${formatRef(to)} NEW)` });
  }
  return new VaultError('exists', `the name ${formatRef(to)} belongs to a removed secret`, {
    hint: 'a removed or purged secret keeps its name (its history, vault rollback); choose another name',
  });
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

export function tampered(ref: SecretRef, version: number): VaultError {
  return new VaultError('integrity', `secret ${formatRef(ref)} version ${version} failed its integrity check`, {
    hint: 'the vault file may have been tampered with; restore it from a backup',
  });
}
