import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';

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
  let user = '';
  try {
    user = userInfo().username;
  } catch {
    user = String(process.getuid?.() ?? '');
  }
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
