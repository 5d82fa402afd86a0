import { readFileSync } from 'node:fs';
import { currentUser } from '../store/paths.js';

export interface Actor {
  user: string;
  pid: number;
  /** the parent process's name (its comm on Linux), '' when it cannot be read */
  parent: string;
}

let cached: Actor | undefined;

/** Who is acting: the OS user, this pid and the parent's process name. */
export function currentActor(): Actor {
  if (cached) return cached;
  // The passwd lookup the vault file's checks made already (one per process).
  const user = currentUser()?.name ?? String(process.getuid?.() ?? '');
  let parent = '';
  if (process.platform === 'linux') {
    try {
      parent = readFileSync(`/proc/${process.ppid}/comm`, 'utf8').trim();
    } catch {
      parent = '';
    }
  }
  cached = { user, pid: process.pid, parent };
  return cached;
}
