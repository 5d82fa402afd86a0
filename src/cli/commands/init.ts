import { storeExists } from '../../store/open-store.js';
import type { Command } from 'commander';
import { Option } from 'commander';
import { VaultError } from '../../core/errors.js';
import { Vault } from '../../core/vault.js';
import { enableKeychain } from '../../unlock/keychain-slot.js';
import { passphraseFromEnv } from '../../unlock/sources.js';
import type { IO } from '../io.js';
import { promptConfirm, promptNewPassphrase } from '../prompt.js';
import { Session } from '../session.js';
import { keychainName } from './keychain.js';

export function register(program: Command, io: IO): void {
  program
    .command('init')
    .description('create a new vault protected by a passphrase')
    .addOption(new Option('--kdf <kdf>', 'passphrase key derivation').choices(['scrypt', 'pbkdf2']).default('scrypt'))
    .option('--keychain', 'also unlock with the OS keychain (offered on a terminal)')
    .option('--no-keychain', 'do not use the OS keychain, and do not ask')
    .action(async (opts: { kdf: 'scrypt' | 'pbkdf2'; keychain?: boolean }, cmd: Command) => {
      const s = new Session(io, cmd);
      const path = s.vaultPath;
      void s.ns; // a bad VAULT_NS / --ns fails before the vault is created
      // Refused before anyone types a passphrase twice or waits for the KDF; creation re-checks (O_EXCL).
      if (storeExists(path)) {
        throw new VaultError('exists', `a vault already exists at ${path}`, { hint: 'use it, or choose another path with --vault' });
      }
      let passphrase = passphraseFromEnv(s.env.VAULT_PASSPHRASE, s.env.VAULT_PASSPHRASE_FILE);
      if (passphrase === undefined) {
        if (!s.interactive) {
          throw new VaultError('usage', 'no passphrase for the new vault', {
            hint: 'set VAULT_PASSPHRASE or VAULT_PASSPHRASE_FILE, or run vault init in a terminal',
          });
        }
        passphrase = await promptNewPassphrase(io, 'New vault passphrase');
      }
      if (passphrase.length === 0) throw new VaultError('usage', 'the passphrase is empty');
      const useKeychain = await chooseKeychain(s, opts.keychain);
      const vault = await s.slow('deriving the key', () => Vault.create(path, { passphrase: passphrase!, kdf: opts.kdf, passphraseKdf: io.passphraseKdf }));
      passphrase.fill(0);
      try {
        let keychain = false;
        if (useKeychain) {
          try {
            await enableKeychain(vault, s.keychain());
            keychain = true;
          } catch (e) {
            // The vault exists now; a keychain that failed at the last moment (a locked
            // collection) only costs the convenience, which keychain enable adds later.
            if (!(e instanceof VaultError)) throw e;
            s.warn(`${e.message}; the vault was created without it (vault keychain enable adds it later)`);
          }
        }
        if (s.json) s.outJson({ path: vault.path, vaultId: vault.id, kdf: opts.kdf === 'scrypt' ? 'scrypt' : 'pbkdf2-sha256', keychain });
        else s.info(`created vault ${vault.path}${keychain ? `; the ${keychainName()} unlocks it on this login` : ''}`);
      } finally {
        vault.close();
      }
    });
}

/**
 * --keychain: the keychain must answer now, or nothing is created. --no-keychain: never.
 * Neither: offered on a terminal when the keychain answers; never asked otherwise.
 */
async function chooseKeychain(s: Session, flag: boolean | undefined): Promise<boolean> {
  if (flag === false) return false;
  if (flag === undefined && !s.interactive) return false;
  const probe = await s.keychain().probe();
  if (!probe.available) {
    if (flag === true) {
      throw new VaultError('error', `cannot use the OS keychain: ${probe.reason}`, {
        hint: 'run vault init --no-keychain, or set up a Secret Service (see "Keychain set-up on Linux" in the README)',
      });
    }
    // Not asked for: no warning (the keychain is offered only when it answers).
    return false;
  }
  if (flag === true) return true;
  return promptConfirm(s.io, `Unlock this vault with the ${keychainName()} on this login, without typing the passphrase?`, true);
}
