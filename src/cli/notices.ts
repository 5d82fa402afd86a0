import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { anchorDir } from '../store/anchor.js';

/**
 * Warnings that would be noise on every command (the keychain cannot be reached over SSH, day
 * after day) are shown once a day per vault and per message, remembered in a small file under
 * $XDG_STATE_HOME/vault/notices/ (beside the rollback anchors). The file holds no secret: a
 * vault id, the text of the warning and a time. Anyone who can write it can only silence or
 * repeat a warning; a file that cannot be read or written means the warning is shown.
 */

const DAY_MS = 24 * 60 * 60 * 1000;

export function noticeDir(env: NodeJS.ProcessEnv): string {
  return join(dirname(anchorDir(env)), 'notices');
}

/**
 * True when `message` about vault `vaultId` has not been shown in the last day (and records
 * that it is shown now); false when it was.
 */
export function shouldShowOnce(env: NodeJS.ProcessEnv, vaultId: string, kind: string, message: string, now = Date.now()): boolean {
  const dir = noticeDir(env);
  const file = join(dir, `${vaultId.replace(/[^A-Za-z0-9_-]/g, '_')}-${kind}.json`);
  try {
    const seen = JSON.parse(readFileSync(file, 'utf8')) as { message?: unknown; at?: unknown };
    if (seen.message === message && typeof seen.at === 'number' && seen.at <= now && now - seen.at < DAY_MS) return false;
  } catch {
    // never shown, or unreadable: show it
  }
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ message, at: now }) + '\n', { mode: 0o600 });
    renameSync(tmp, file);
  } catch {
    // cannot remember it: it will be shown again next time, which is the safe side
  }
  return true;
}
