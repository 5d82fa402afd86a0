import type { AuditOutcome } from '../audit/log.js';
import { namesDetail } from '../audit/detail.js';
import { wipe } from '../crypto/aead.js';
import { VaultError } from './errors.js';
import { checkName, formatRef, isValidName, MAX_VALUE_BYTES, type SecretRef, type VersionedRef } from './names.js';
import { Unrecorded, type SecretRow, type Vault, type VersionRow } from './vault.js';

/**
 * Operations on many secrets at once: `exec`, `env`, `export`, `inject` read a set of secrets
 * (a namespace's current secrets, filtered, and/or explicit `vault://` references), `import`
 * writes many. Each runs in ONE transaction with ONE audit entry, and a read's entry commits
 * before any value leaves this module.
 */

/** Which of a namespace's current secrets to read. */
export interface Selection {
  /** only these names; each must exist (else not-found) */
  only?: string[];
  /** only names starting with this */
  prefix?: string;
}

export interface ReadRequest {
  op: 'exec' | 'env' | 'export' | 'inject' | 'scan';
  /** the namespace read, and the one the audit entry names */
  ns: string;
  /** the namespace's secrets to read; omitted: none */
  select?: Selection;
  /** references to resolve, each to one version (the current one unless given) */
  refs?: VersionedRef[];
  /** read expired versions instead of refusing them (exit 9) */
  allowExpired?: boolean;
  /** more value-free audit detail, e.g. an exec's command basename and argument count */
  detail?: Record<string, unknown>;
  /**
   * exec: what the child's execve can take. Checked on the stored sizes before anything is
   * decrypted; over it, the read is refused (usage, recorded as denied) naming the limit.
   */
  envLimit?: { total: number; each: number; name: string; used: number };
}

/** One decrypted secret. The caller owns `value` and should zero it when done. */
export interface ResolvedSecret {
  ns: string;
  name: string;
  version: number;
  value: Buffer;
  expiresAt: number | null;
  /** marked not secret: left out of every mask list */
  notSecret: boolean;
}

export interface ReadResult {
  /** the selected namespace secrets, by name */
  secrets: ResolvedSecret[];
  /** one per requested reference, in request order */
  refs: ResolvedSecret[];
}

/**
 * One secret a read will open: only what the read needs from its rows. Its bytes (nonce,
 * ciphertext, associated data) are in the read's Arena, so that at 10,000 secrets no row
 * object, MAC or Buffer per secret stays alive until the values are out: the young-generation
 * collections that run meanwhile copy what is alive, and this is most of what was.
 */
interface Planned {
  ns: string;
  name: string;
  /** how a reference was asked for ("ns/NAME@3"); null for a namespace secret (see labelOf) */
  label: string | null;
  notSecret: boolean;
  /** the version wanted */
  version: number;
  /** whether its row exists; the rest is meaningful only then */
  found: boolean;
  expiresAt: number | null;
  size: number;
  /** where its nonce, ciphertext and associated data start and end in the arena; -1: no uid stored */
  nonceAt: number;
  boxAt: number;
  aadAt: number;
  endAt: number;
}

/**
 * The bytes a read keeps between finding its secrets and opening them, none of them secret,
 * appended to one growing buffer outside V8's heap.
 */
class Arena {
  private bytes = EMPTY;
  private used = 0;

  /** Appends `part`; returns where it ends. */
  add(part: Buffer): number {
    if (this.used + part.length > this.bytes.length) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(this.bytes.length * 2, this.used + part.length, 1 << 16));
      this.bytes.copy(bigger, 0, 0, this.used);
      this.bytes = bigger;
    }
    this.bytes.set(part, this.used);
    this.used += part.length;
    return this.used;
  }

  get end(): number {
    return this.used;
  }

  slice(from: number, to: number): Buffer {
    return this.bytes.subarray(from, to);
  }
}

const EMPTY = Buffer.alloc(0);

function planned(vault: Vault, arena: Arena, ns: string, name: string, label: string | null, secret: SecretRow | undefined, version: number, row: VersionRow | undefined): Planned {
  const p: Planned = {
    ns, name, label, notSecret: secret?.not_secret === 1, version, found: row !== undefined,
    expiresAt: row?.expires_at ?? null, size: row?.size ?? 0, nonceAt: -1, boxAt: -1, aadAt: -1, endAt: -1,
  };
  if (row !== undefined && secret?.uid) {
    p.nonceAt = arena.end;
    p.boxAt = arena.add(row.nonce);
    p.aadAt = arena.add(row.ciphertext);
    p.endAt = arena.add(vault.valueAad(secret.uid, row));
  }
  return p;
}

function labelOf(p: Planned): string {
  return p.label ?? formatRef(p);
}

/** Checks a selection's names and prefix; usage error when one is not a valid name. */
export function checkSelection(select: Selection): Selection {
  if (select.only !== undefined && select.prefix !== undefined) {
    throw new VaultError('usage', '--only and --prefix cannot be used together');
  }
  if (select.only !== undefined) {
    if (select.only.length === 0) throw new VaultError('usage', '--only needs at least one name');
    for (const name of select.only) checkName(name);
  }
  return select;
}

/** `A,B , C` → [A, B, C], without duplicates; names are checked. */
export function parseNameList(text: string): string[] {
  const names = text.split(',').map((n) => n.trim());
  for (const name of names) checkName(name);
  return [...new Set(names)];
}

function refLabel(ref: VersionedRef): string {
  return ref.version === undefined ? formatRef(ref) : `${formatRef(ref)}@${ref.version}`;
}

/**
 * Finds the rows a request reads; needs no key. `rows`: also the version rows of the selected
 * secrets (one query for the namespace); without it (checkExists, before unlocking) only the
 * names are looked at.
 */
function plan(vault: Vault, req: ReadRequest, rows = true): { secrets: Planned[]; refs: Planned[]; missing: string[]; arena: Arena } {
  const arena = new Arena();
  const missing: string[] = [];
  const secrets: Planned[] = [];
  if (req.select) {
    const { only, prefix } = req.select;
    const wanted = only === undefined ? null : new Set(only);
    const keep = (name: string): boolean => (wanted !== null ? wanted.has(name) : prefix === undefined || name.startsWith(prefix));
    if (rows) {
      // One row at a time: each secret's full row is garbage once its MAC is checked.
      for (const { secret, row } of vault.currentWithVersions(req.ns)) {
        if (keep(secret.name)) secrets.push(planned(vault, arena, secret.ns, secret.name, null, secret, secret.current_version, row));
      }
    }
    if (only !== undefined) {
      const have = new Set(rows ? secrets.map((s) => s.name) : vault.currentNames(req.ns));
      for (const name of only) if (!have.has(name)) missing.push(formatRef({ ns: req.ns, name }));
    }
  }
  const refs: Planned[] = [];
  for (const wanted of req.refs ?? []) {
    const secret = vault.findSecret(wanted, false);
    const version = wanted.version ?? secret?.current_version ?? 0;
    const row = secret ? vault.findVersion(secret.id, version) : undefined;
    const label = refLabel(wanted);
    if (!row && !missing.includes(label)) missing.push(label);
    refs.push(planned(vault, arena, wanted.ns, wanted.name, label, secret, version, row));
  }
  return { secrets, refs, missing, arena };
}

function notFound(missing: string[]): VaultError {
  const hint = 'vault list shows the stored names';
  if (missing.length === 1) {
    const [label] = missing as [string];
    const at = label.indexOf('@');
    if (at !== -1) return new VaultError('not-found', `secret ${label.slice(0, at)} has no version ${label.slice(at + 1)}`, { hint: `vault history ${label.slice(0, at)} lists its versions` });
    return new VaultError('not-found', `no secret ${label}`, { hint });
  }
  return new VaultError('not-found', `no secrets ${missing.join(', ')}`, { hint });
}

/**
 * Refuses, without unlocking and without an audit entry, a request naming secrets or
 * versions that do not exist: a misspelt name fails before anyone is asked for a passphrase.
 * (readSecrets checks again inside its transaction.)
 */
export function checkExists(vault: Vault, req: ReadRequest): void {
  const { missing } = plan(vault, req, false);
  if (missing.length > 0) throw notFound(missing);
}

/**
 * Reads and decrypts what `req` asks for in one transaction and records one audit entry
 * (op, namespace, the names read, `req.detail`). `prepare` runs inside the transaction on
 * the decrypted values, before the entry is written: a VaultError it throws becomes the
 * outcome `denied` and is rethrown (the values are zeroed); what it returns is returned
 * once the entry has committed, and only then may it be released.
 * Refusals: not-found (3) for a missing name, reference or version; expired (9) for an
 * expired version unless `allowExpired`; integrity (7) when a ciphertext fails its check.
 */
export function readSecrets<T>(vault: Vault, req: ReadRequest, prepare: (result: ReadResult) => T): T {
  return vault.audited({ op: req.op, ns: req.ns, detail: req.detail ?? null }, (entry) => {
    const p = plan(vault, req);
    const detail: Record<string, unknown> = { ...req.detail, ...namesDetail('names', p.secrets.map((s) => s.name)) };
    if (req.refs !== undefined && req.refs.length > 0) detail.refs = req.refs.map(refLabel);
    entry.detail = detail;
    // Not recorded, as everywhere (see Vault.get): the CLI refuses these before unlocking
    // (checkExists), and the library must give the same answer to the same question.
    if (p.missing.length > 0) throw new Unrecorded(notFound(p.missing));
    // A current secret whose current version row is gone, while its record (under its MAC) names it: tampering.
    const orphan = p.secrets.find((s) => !s.found);
    if (orphan) throw integrityFailure(orphan, orphan.version);
    const all = [...p.secrets, ...p.refs];
    if (!req.allowExpired) {
      const now = vault.time();
      const expired = all.find((s) => s.expiresAt !== null && s.expiresAt <= now);
      if (expired) {
        throw new VaultError('expired', `secret ${labelOf(expired)} expired at ${new Date(expired.expiresAt!).toISOString()}`, {
          hint: 'store a new value with vault rotate, or pass --allow-expired',
        });
      }
    }
    if (req.envLimit) checkEnvLimit(req.envLimit, all);
    const values: Buffer[] = [];
    const bytes = (from: number, to: number): Buffer => p.arena.slice(from, to);
    try {
      const result: ReadResult = { secrets: [], refs: [] };
      for (const [list, out] of [
        [p.secrets, result.secrets],
        [p.refs, result.refs],
      ] as const) {
        for (const s of list) {
          const value = s.nonceAt === -1 ? null : vault.openSealed(bytes(s.nonceAt, s.boxAt), bytes(s.boxAt, s.aadAt), bytes(s.aadAt, s.endAt));
          if (!value) throw integrityFailure(s, s.version);
          values.push(value);
          out.push({ ns: s.ns, name: s.name, version: s.version, value, expiresAt: s.expiresAt, notSecret: s.notSecret });
        }
      }
      // What the read kept to open them is garbage from here on, not alive while prepare works.
      p.secrets.length = 0;
      p.refs.length = 0;
      all.length = 0;
      // A refusal from prepare (a value no environment can carry) is recorded as denied.
      return prepare(result);
    } catch (e) {
      wipe(...values);
      throw e;
    }
  });
}

/** Refuses a read whose environment the child could not be started with (E2BIG), from sizes alone. */
function checkEnvLimit(limit: NonNullable<ReadRequest['envLimit']>, all: Array<SecretRef & { size: number }>): void {
  let total = limit.used;
  for (const s of all) {
    const one = Buffer.byteLength(s.name, 'utf8') + 1 + s.size + 1;
    if (limit.each > 0 && one > limit.each) {
      throw new VaultError('usage', `secret ${formatRef(s)} is ${s.size} bytes, over this system's limit of ${limit.each} bytes for one environment variable`, {
        hint: 'leave it out with --only or --prefix, or read it with vault get',
      });
    }
    total += one + 8;
  }
  if (total > limit.total) {
    throw new VaultError('usage', `the command's environment would be ${total} bytes with ${all.length} secrets, over this system's ${limit.name} limit of ${limit.total} bytes for a command's arguments and environment`, {
      hint: 'choose fewer secrets with --only or --prefix, or start from --pristine',
    });
  }
}

function integrityFailure(ref: SecretRef, version: number): VaultError {
  return new VaultError('integrity', `secret ${formatRef(ref)} version ${version} failed its integrity check`, {
    hint: 'the vault file may have been tampered with; restore it from a backup',
  });
}

/**
 * Turns secrets into environment variables (name → text). Refuses (usage, naming the secret)
 * a value holding a NUL byte, which no environment variable can carry, and a value that is
 * not valid UTF-8, which node cannot pass to a child byte for byte.
 */
export function toEnvironment(secrets: Array<{ ns: string; name: string; value: Buffer }>): Map<string, string> {
  const env = new Map<string, string>();
  for (const s of secrets) env.set(s.name, envText(s.value, `secret ${formatRef(s)}`));
  return env;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A value as environment text; `what` names it in the refusal ("secret default/A"). */
export function envText(value: Buffer, what: string): string {
  let text: string;
  try {
    text = strictUtf8.decode(value);
  } catch {
    if (value.includes(0)) throw nulRefusal(what);
    throw new VaultError('usage', `${what} is not valid UTF-8, which cannot be passed in an environment variable`, {
      hint: 'vault get prints it as exact bytes',
    });
  }
  // In valid UTF-8 a NUL byte is U+0000 and nothing else is: the string is searched, not the bytes.
  if (text.includes('\0')) throw nulRefusal(what);
  return text;
}

function nulRefusal(what: string): VaultError {
  return new VaultError('usage', `${what} holds a NUL byte, which an environment variable cannot carry`, {
    hint: 'vault get prints it as exact bytes',
  });
}

export interface EnvOptions extends Selection {
  ns: string;
  allowExpired?: boolean;
}

/**
 * The namespace's current secrets as an environment (the library's `env()`): one audit entry
 * (op `env`), refusals as readSecrets, and usage (2) for a value with a NUL byte or invalid UTF-8.
 */
export function readEnv(vault: Vault, options: EnvOptions): Record<string, string> {
  const select: Selection = {};
  if (options.only !== undefined) select.only = options.only;
  if (options.prefix !== undefined) select.prefix = options.prefix;
  checkSelection(select);
  return readSecrets(vault, { op: 'env', ns: options.ns, select, allowExpired: options.allowExpired === true }, (r) => {
    try {
      return Object.fromEntries(toEnvironment(r.secrets));
    } finally {
      wipe(...r.secrets.map((s) => s.value));
    }
  });
}

// ---- import -------------------------------------------------------------------------------

export interface ImportEntry {
  name: string;
  value: Buffer;
}

/**
 * Refuses, listing them, names that are not secret names and values over 1 MiB (usage).
 * Pure: run it before unlocking.
 */
export function checkImport(entries: ImportEntry[]): void {
  const bad = entries.filter((e) => !isValidName(e.name)).map((e) => JSON.stringify(e.name));
  if (bad.length > 0) {
    throw new VaultError('usage', `invalid secret ${bad.length === 1 ? 'name' : 'names'} ${bad.join(', ')}`, {
      hint: 'a name is an environment-variable name: letters, digits and "_", not starting with a digit, at most 128 characters',
    });
  }
  // As `put`: no empty values (an empty value is nearly always an unset variable or a
  // placeholder line, and `exec` would inject it as set-but-empty).
  const empty = entries.filter((e) => e.value.length === 0).map((e) => e.name);
  if (empty.length > 0) {
    throw new VaultError('usage', `empty ${empty.length === 1 ? 'value' : 'values'} for ${empty.join(', ')}; nothing was imported`, {
      hint: 'vault stores no empty values (as put): give them a value or remove those lines',
    });
  }
  const big = entries.filter((e) => e.value.length > MAX_VALUE_BYTES).map((e) => e.name);
  if (big.length > 0) throw new VaultError('usage', `${big.length === 1 ? 'value' : 'values'} of ${big.join(', ')} larger than the 1 MiB limit`);
}

/** The names among `names` that already exist (not removed) in the namespace. */
export function existingNames(vault: Vault, ns: string, names: string[]): string[] {
  const rows = vault.namespaceRows(ns);
  return names.filter((name) => vault.checkSecret(rows.get(name), false) !== undefined);
}

function clashError(ns: string, names: string[]): VaultError {
  const list = names.map((name) => formatRef({ ns, name })).join(', ');
  return new VaultError('exists', `${names.length === 1 ? 'secret' : 'secrets'} ${list} already ${names.length === 1 ? 'exists' : 'exist'}; nothing was imported`, {
    hint: 'use --overwrite to store new versions of them',
  });
}

/**
 * Stores every entry in the namespace in one transaction, with one audit entry (op `import`)
 * listing the names. Existing names need `overwrite`, else the whole import is refused
 * (exists, 8) listing them and nothing is written. A removed name is stored anew.
 */
export function importSecrets(vault: Vault, ns: string, entries: ImportEntry[], options: { overwrite?: boolean; notSecret?: boolean } = {}): { created: string[]; updated: string[] } {
  checkImport(entries);
  vault.requireKey();
  const names = namesDetail('names', entries.map((e) => e.name));
  return vault.audited({ op: 'import', ns, detail: names }, (entry) => {
    // Each name looked up once: one query for the namespace, each row checked as findSecret does.
    const rows = vault.namespaceRows(ns);
    const found = entries.map((e) => vault.checkSecret(rows.get(e.name), true, true));
    const clashes = entries.filter((_e, i) => found[i] !== undefined && found[i]!.removed_at === null).map((e) => e.name);
    // as the CLI's check before unlocking (checkImportClashes): not recorded
    if (clashes.length > 0 && !options.overwrite) throw new Unrecorded(clashError(ns, clashes));
    const created: string[] = [];
    const updated: string[] = [];
    const stored = new Set<string>();
    entries.forEach(({ name, value }, i) => {
      // a name given twice: its second value follows the version the first one stored
      const secret = stored.has(name) ? vault.findSecret({ ns, name }, true, true) : found[i];
      stored.add(name);
      vault.storeVersion({ ns, name }, secret, value, { force: true, origin: 'import', notSecret: options.notSecret === true });
      (secret && secret.removed_at === null ? updated : created).push(name);
    });
    entry.detail = { ...names, ...namesDetail('overwritten', updated), ...(options.notSecret ? { notSecret: true } : {}) };
    return { created, updated };
  });
}

/** The same refusal importSecrets makes, for use before unlocking. */
export function checkImportClashes(vault: Vault, ns: string, entries: ImportEntry[], overwrite: boolean): void {
  if (overwrite) return;
  const clashes = existingNames(vault, ns, entries.map((e) => e.name));
  if (clashes.length > 0) throw clashError(ns, clashes);
}
