import { homedir } from 'node:os';
import { join } from 'node:path';

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
