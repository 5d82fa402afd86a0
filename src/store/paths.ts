import { lstatSync, readFileSync, realpathSync, statSync, type Stats } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { VaultError } from '../core/errors.js';

/**
 * SPEC §2: $VAULT_PATH, else the platform's data directory. The caller passes the
 * environment in; nothing here reads process.env, so the library can be used with any env.
 */
export function defaultVaultPath(env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): string {
  if (env.VAULT_PATH) return env.VAULT_PATH;
  const home = env.HOME || homedir();
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', 'vault', 'vault.db');
  if (platform === 'win32') return join(env.APPDATA || join(home, 'AppData', 'Roaming'), 'vault', 'vault.db');
  const dataHome = env.XDG_DATA_HOME && env.XDG_DATA_HOME.startsWith('/') ? env.XDG_DATA_HOME : join(home, '.local', 'share');
  return join(dataHome, 'vault', 'vault.db');
}

/** A path as one POSIX shell word, for the commands our hints print. */
export function shellQuote(path: string): string {
  return `'${path.replace(/'/g, `'\\''`)}'`;
}

export function modeText(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(3, '0');
}

/** The effective user, as a number for comparisons and a name for chown hints; undefined on Windows. */
let user: { uid: number; name: string } | undefined;

export function currentUser(): { uid: number; name: string } | undefined {
  // One passwd lookup per process: every open asks several times (file, directory, sidecars).
  if (user !== undefined && user.uid === process.geteuid?.()) return user;
  user = lookupUser();
  return user;
}

function lookupUser(): { uid: number; name: string } | undefined {
  const uid = process.geteuid?.();
  if (uid === undefined) return undefined;
  let name = String(uid);
  try {
    name = userInfo().username || name;
  } catch {
    // no passwd entry for this uid (containers): the number works for chown too
  }
  return { uid, name };
}

/**
 * The hint for a file or directory of another user: the chown (and chmod) that makes it ours.
 * Root is first told to run as its owner instead: `sudo vault` with the user's HOME reaches
 * the user's vault, and taking it over would lock the user out of it.
 */
export function chownHint(me: { uid: number; name: string }, owner: number, path: string, chmod?: string): string {
  const fix = `chown ${me.name} ${shellQuote(path)}${chmod === undefined ? '' : ` && chmod ${chmod} ${shellQuote(path)}`}`;
  return me.uid === 0 && owner !== 0 ? `run vault as its owner (uid ${owner}), or take it over with: ${fix}` : `fix it with: ${fix}`;
}

/**
 * Refuses a vault directory that another user could change (SPEC §2), unless `insecure`.
 *
 * Whoever can write the vault's directory can read every value without any key: they
 * pre-create `vault.db-wal` with a mode of their choosing and SQLite writes the newest pages
 * into it, or they swap `vault.db` and its sidecars for files of their own. So:
 *
 * - the vault's own directory must be owned by this (effective) user and writable by nobody
 *   else; the sticky bit is not enough here, it does not stop others creating `-wal`/`-shm`.
 *   Root is held to the same rule: root's vault directory must be owned by root, and a
 *   directory owned by another user (who could chmod it at any time) is refused for root too.
 * - every directory above it, up to `/`, must be owned by this user or root, and writable by
 *   group or others only with the sticky bit (like /tmp): whoever can rename an entry on the
 *   way could swap the whole vault directory. This is OpenSSH's StrictModes rule, taken all
 *   the way up because the vault has no natural stopping point like a home directory.
 *   One exception above the vault's own directory: group write by the user's private group
 *   (a group of the user's name with no other members, as Debian and Fedora create with
 *   umask 002, which leaves ~/.local 0775), since nobody else is in it.
 * - both the path as written and its resolved form are walked, so the directories that hold
 *   a symbolic link on the way are checked as well as the ones it leads to.
 *
 * Windows has no POSIX modes; nothing is checked there.
 */
export function checkVaultDirectory(dir: string, insecure: boolean): void {
  const me = currentUser();
  if (insecure || me === undefined) return;
  const own = resolve(dir);
  const st = statOrNull(own);
  if (st === null) return; // a missing directory: the file open reports "no vault" (or creates it)
  if (!st.isDirectory()) throw new VaultError('error', `${own} is not a directory`);
  const writable = (st.mode & 0o022) !== 0;
  if (st.uid !== me.uid) {
    throw new VaultError('error', `vault directory ${own} is owned by another user (uid ${st.uid})`, {
      hint: chownHint(me, st.uid, own, writable ? '700' : undefined),
    });
  }
  if (writable) {
    throw new VaultError('error', `vault directory ${own} is writable by other users (mode ${modeText(st.mode)})`, {
      hint: `fix it with: chmod 700 ${shellQuote(own)}`,
    });
  }
  let real = own;
  try {
    real = realpathSync(own);
  } catch {
    // vanished meanwhile: the open that follows fails on its own
  }
  const above = new Set<string>([...ancestors(own), ...ancestors(real)]);
  above.delete(own);
  above.delete(real);
  for (const d of above) {
    const a = statOrNull(d);
    if (a === null) continue;
    if (a.uid !== me.uid && a.uid !== 0) {
      throw new VaultError('error', `directory ${d} above the vault is owned by another user (uid ${a.uid})`, {
        hint: `keep the vault below directories owned by you or root, or fix it with: chown ${me.name} ${shellQuote(d)}`,
      });
    }
    const writable = (a.mode & 0o002) !== 0 || ((a.mode & 0o020) !== 0 && !isPrivateGroup(a.gid, me.name));
    if (writable && (a.mode & 0o1000) === 0) {
      throw new VaultError('error', `directory ${d} above the vault is writable by other users (mode ${modeText(a.mode)})`, {
        hint: `fix it with: chmod go-w ${shellQuote(d)}`,
      });
    }
  }
}

/**
 * Whether `gid` is the user's private group: /etc/group names it after the user and lists no
 * other member, and /etc/passwd gives it to no other user as a primary group. A group those
 * files do not list (LDAP, sssd) is not assumed private.
 */
function isPrivateGroup(gid: number, user: string): boolean {
  const rows = (file: string): string[][] => {
    try {
      return readFileSync(file, 'utf8').split('\n').map((line) => line.split(':'));
    } catch {
      return [];
    }
  };
  const group = rows('/etc/group').find((f) => f.length >= 3 && f[2]!.trim() !== '' && Number(f[2]) === gid);
  if (group === undefined || group[0] !== user) return false;
  if (!(group[3] ?? '').split(',').every((m) => m.trim() === '' || m.trim() === user)) return false;
  return rows('/etc/passwd').every((f) => f.length < 4 || f[0] === user || f[3]!.trim() === '' || Number(f[3]) !== gid);
}

/** The directories above `dir` (absolute), nearest first, `/` last. */
function ancestors(dir: string): string[] {
  const out: string[] = [];
  for (let d = dirname(dir); ; d = dirname(d)) {
    out.push(d);
    if (dirname(d) === d) return out;
  }
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw new VaultError('error', `cannot check ${path}: ${(e as Error).message}`, { cause: e });
  }
}

export const SIDECARS = ['-wal', '-shm'] as const;

/**
 * SQLite's `-wal` and `-shm` beside the vault, when present, must be plain files of this user
 * that nobody else can open: SQLite keeps the owner of a file it finds (and as root even
 * chowns it to the vault's owner, and chmods an empty one to 0600), so a `-wal` planted by
 * someone else, who keeps a descriptor open on it, would receive every page written. A
 * symbolic link or another kind of file is refused even with `insecure`, which only waives
 * the owner and mode. Returns the status of each one present.
 */
export function checkSidecars(path: string, insecure: boolean): Map<string, Stats> {
  const found = new Map<string, Stats>();
  for (const suffix of SIDECARS) {
    const p = path + suffix;
    let st: Stats;
    try {
      st = lstatSync(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new VaultError('error', `cannot check ${p}: ${(e as Error).message}`, { cause: e });
    }
    checkSidecar(p, st, insecure);
    found.set(suffix, st);
  }
  return found;
}

/** The rule of checkSidecars for one file `p` whose lstat (or fstat) is `st`. */
export function checkSidecar(p: string, st: Stats, insecure: boolean): void {
  if (st.isSymbolicLink()) {
    throw new VaultError('error', `${p} is a symbolic link`, { hint: `remove it while no vault process runs: rm ${shellQuote(p)}` });
  }
  if (!st.isFile()) throw new VaultError('error', `${p} is not a regular file`, { hint: `remove it while no vault process runs: rm ${shellQuote(p)}` });
  const me = currentUser();
  if (insecure || me === undefined) return;
  const open = (st.mode & 0o077) !== 0;
  if (st.uid !== me.uid) {
    throw new VaultError('error', `${p} is owned by another user (uid ${st.uid})`, {
      hint: chownHint(me, st.uid, p, open ? '600' : undefined),
    });
  }
  if (open) {
    const what = (st.mode & 0o044) !== 0 ? 'readable' : 'writable';
    throw new VaultError('error', `${p} is ${what} by other users (mode ${modeText(st.mode)})`, {
      hint: `fix it with: chmod 600 ${shellQuote(p)}`,
    });
  }
}
