import { mac, macEqual } from '../crypto/mac.js';
import { anchorFile, anchorName, readAnchor, writeAnchor, type AnchorRecord } from '../store/anchor.js';
import { VaultError } from './errors.js';
import { integrity } from '../keyring/keyring.js';

/**
 * What the rollback anchor (src/store/anchor.ts: a small file outside the vault) means to an
 * open vault: the newest state this user has seen, under a MAC with the vault's anchor key. A
 * file older than its anchor was rolled back (finding 3 of issue 8; docs/security.md). The
 * Vault facade hands in its view (state counter, audit head, format) and records an accepted
 * restore; this module decides.
 */

/** The state a process sees: the state record's counter, the last sealed audit entry, the format. */
export interface AnchorView {
  state: number;
  audit: number;
  format: number;
}

export class RollbackAnchor {
  /** the anchors directory and the vault's real path, resolved when it was opened; null: anchors are off (the library's anchorDir: null) */
  private readonly where: { dir: string; real: string } | null;
  private path: string | undefined;

  constructor(dir: string | null, private readonly vaultId: string, vaultPath: string) {
    this.where = dir === null ? null : { dir, real: anchorName(vaultPath) };
  }

  /**
   * The anchor file, null when anchors are off. Named on first use: the name hashes the real
   * path with SHA-256, and a command that never unlocks (`vault list`) does not load
   * node:crypto for it.
   */
  get file(): string | null {
    if (this.where === null) return null;
    return (this.path ??= anchorFile(this.where.dir, this.vaultId, this.where.real));
  }

  private mac(key: Buffer, state: number, audit: number, format: number): string {
    return mac(key, 'vault/anchor/v1', [this.vaultId, state, audit, format]).toString('hex');
  }

  /** Whether the record is this vault's (its MAC verifies under the anchor key). */
  private authentic(key: Buffer, a: AnchorRecord): boolean {
    return macEqual(Buffer.from(a.mac, 'hex'), Buffer.from(this.mac(key, a.state, a.audit, a.format), 'hex'));
  }

  /** A legacy (format 1) file where this user has seen an upgraded one: a downgrade. */
  checkFormat(format: number): void {
    const a = this.file === null ? null : readAnchor(this.file);
    if (a !== null && (a === 'malformed' || a.format > format)) {
      throw integrity('the vault file is in the format of release 0.1, but this user has already used it upgraded: it was replaced by an older or forged copy');
    }
  }

  /**
   * After the state was verified: the file must not be older than what this user saw.
   * `fresh` reads the state again (another process may have committed, and moved the anchor,
   * after this one read it; its anchor is written after its commit, so a fresh read sees at
   * least what the anchor says unless the file really is older). Throws integrity for a
   * rollback or a foreign anchor; with `acceptRestore` returns what to accept instead (the
   * caller records it, then calls save(…, true)). Otherwise moves the anchor forward and
   * returns null.
   */
  check(key: Buffer, view: AnchorView, fresh: () => AnchorView, acceptRestore: boolean): { from: { state: number; audit: number } | 'unverifiable'; to: { state: number; audit: number } } | null {
    if (this.file === null) return null;
    const a = readAnchor(this.file);
    if (a !== null) {
      const rec = a !== 'malformed' && this.authentic(key, a) ? a : null;
      let older = rec !== null && (rec.state > view.state || rec.audit > view.audit);
      if (rec !== null && older) {
        view = fresh();
        older = rec.state > view.state || rec.audit > view.audit;
      }
      if (rec === null || older) {
        if (!acceptRestore) {
          const why =
            rec === null
              ? `the rollback anchor ${this.file} does not verify under this vault's key: the vault file was replaced, or the anchor was edited`
              : `the vault file was rolled back: it is at state ${view.state} (audit entry #${view.audit}), but this user last saw state ${rec.state} (audit entry #${rec.audit})`;
          throw new VaultError('integrity', why, { hint: 'if you restored this file from a backup on purpose, accept it with: vault accept-restore' });
        }
        return { from: rec !== null ? { state: rec.state, audit: rec.audit } : 'unverifiable', to: { state: view.state, audit: view.audit } };
      }
      if (rec.state === view.state && rec.audit === view.audit && rec.format === view.format) return null;
    }
    this.save(key, view);
    return null;
  }

  /**
   * Moves the anchor to `view`. Never backwards (another process may have moved it further
   * meanwhile), unless `force` (an accepted restore). Best effort: the change has committed;
   * an unwritable state directory only weakens rollback detection on this machine.
   */
  save(key: Buffer, view: AnchorView, force = false): void {
    if (this.file === null) return;
    try {
      const a = force ? null : readAnchor(this.file);
      if (a !== null && a !== 'malformed' && this.authentic(key, a) && a.state >= view.state && a.audit >= view.audit && a.format >= view.format) return;
      writeAnchor(this.file, { ...view, mac: this.mac(key, view.state, view.audit, view.format) });
    } catch {
      // best effort, see above (docs/security.md)
    }
  }
}
