import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { Option } from 'commander';
import { VaultError } from '../../core/errors.js';
import { Vault } from '../../core/vault.js';
import { passphraseFromEnv } from '../../unlock/sources.js';
import type { IO } from '../io.js';
import { promptNewPassphrase } from '../prompt.js';
import { Session } from '../session.js';

export function register(program: Command, io: IO): void {
  program
    .command('init')
    .description('create a new vault protected by a passphrase')
    .addOption(new Option('--kdf <kdf>', 'passphrase key derivation').choices(['scrypt', 'pbkdf2']).default('scrypt'))
    .action(async (opts: { kdf: 'scrypt' | 'pbkdf2' }, cmd: Command) => {
      const s = new Session(io, cmd);
      const path = s.vaultPath;
      s.ns; // validates VAULT_NS / --ns up front
      // Refused before anyone types a passphrase twice or waits for the KDF; creation re-checks (O_EXCL).
      if (existsSync(path)) {
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
      const vault = await s.slow('deriving the key', () => Vault.create(path, { passphrase: passphrase!, kdf: opts.kdf }));
      passphrase.fill(0);
      try {
        if (s.json) s.outJson({ path, vaultId: vault.id, kdf: opts.kdf === 'scrypt' ? 'scrypt' : 'pbkdf2-sha256' });
        else s.info(`created vault ${path}`);
      } finally {
        vault.close();
      }
    });
}
