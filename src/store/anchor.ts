import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * The rollback anchor: a small file outside the vault, per user and per vault file, holding
 * the newest state this user has seen (the state counter, the last sealed audit entry, the
 * format). A copy of an older vault file put back in place is consistent in itself; only
 * something outside it can tell that it is older. The record carries a MAC under a key kept
 * sealed in the vault (src/core/rollback-anchor.ts checks it); this module only reads and writes it.
 *
 * Where: $XDG_STATE_HOME/vault/anchors/, else ~/.local/state/vault/anchors/ (0700, files 0600).
 * The name is the vault id and a hash of the vault file's real path, so two copies of one
 * vault at two paths (a backup opened on purpose) each have their own.
 */

export interface AnchorRecord {
  state: number;
  audit: number;
  format: number;
  mac: string;
}

/** The anchors directory for an environment; the caller passes env (the library may pass its own). */
export function anchorDir(env: NodeJS.ProcessEnv): string {
  const state = env.XDG_STATE_HOME && env.XDG_STATE_HOME.startsWith('/') ? env.XDG_STATE_HOME : join(env.HOME || homedir(), '.local', 'state');
  return join(state, 'vault', 'anchors');
}

/** The vault's real path (the path as given when it is not there yet): what names its anchor. */
export function anchorName(vaultPath: string): string {
  try {
    return realpathSync(vaultPath);
  } catch {
    // not there (yet): the path as given
    return vaultPath;
  }
}

/** The anchor file of the vault `vaultId` whose real path is `real` (see anchorName). */
export function anchorFile(dir: string, vaultId: string, real: string): string {
  const hash = createHash('sha256').update(real).digest('hex').slice(0, 16);
  return join(dir, `${vaultId}-${hash}.json`);
}

/** The record, null when there is none, 'malformed' when it does not parse. */
export function readAnchor(path: string): AnchorRecord | 'malformed' | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    return 'malformed';
  }
  try {
    const r = JSON.parse(text) as Partial<AnchorRecord>;
    const int = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
    if (!int(r.state) || !int(r.audit) || !int(r.format) || typeof r.mac !== 'string' || !/^[0-9a-f]{64}$/.test(r.mac)) return 'malformed';
    return { state: r.state, audit: r.audit, format: r.format, mac: r.mac };
  } catch {
    return 'malformed';
  }
}

/**
 * Writes the record atomically (a private temporary file renamed over the old one). Best
 * effort by design of the caller: a state directory that cannot be written weakens rollback
 * detection on this machine but must not fail a command that has already committed.
 */
export function writeAnchor(path: string, record: AnchorRecord): void {
  writePrivateJson(path, record);
}

/** A JSON file written atomically, 0600 in a 0700 directory (anchors, member pins). */
export function writePrivateJson(path: string, record: unknown): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    writeFileSync(tmp, JSON.stringify(record) + '\n', { mode: 0o600, flag: 'wx' });
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
