import type { Command } from 'commander';
import { VaultError } from '../../core/errors.js';
import { passphraseFromEnv } from '../../unlock/sources.js';
import { setPassphrase } from '../../unlock/slots.js';
import type { IO } from '../io.js';
import { promptNewPassphrase } from '../prompt.js';
import { Session } from '../session.js';

/**
 * `vault passwd`: unlock by the usual order, then re-wrap the data key for a new passphrase
 * from VAULT_NEW_PASSPHRASE(_FILE) or a prompt (twice). No value is re-encrypted.
 */
export function register(program: Command, io: IO): void {
  program
    .command('passwd')
    .description('change the passphrase (re-wraps the data key; nothing is re-encrypted)')
    .action(async (_flags: unknown, cmd: Command) => {
      const s = new Session(io, cmd);
      const fromEnv = () => passphraseFromEnv(s.env.VAULT_NEW_PASSPHRASE, s.env.VAULT_NEW_PASSPHRASE_FILE, ['VAULT_NEW_PASSPHRASE', 'VAULT_NEW_PASSPHRASE_FILE']);
      const hasEnv = s.env.VAULT_NEW_PASSPHRASE !== undefined || s.env.VAULT_NEW_PASSPHRASE_FILE !== undefined;
      // Fail before any key derivation when there is no way to get the new passphrase.
      if (!hasEnv && !s.interactive) {
        throw new VaultError('usage', 'no new passphrase', { hint: 'set VAULT_NEW_PASSPHRASE or VAULT_NEW_PASSPHRASE_FILE, or run vault passwd in a terminal' });
      }
      await s.withVault(true, async (vault) => {
        const passphrase = hasEnv ? fromEnv()! : await promptNewPassphrase(io, 'New passphrase');
        try {
          if (passphrase.length === 0) throw new VaultError('usage', 'the new passphrase is empty');
          const { slot, added } = await s.slow('deriving the key', () => setPassphrase(vault, passphrase));
          if (s.json) s.outJson({ slot: slot.id, kdf: slot.kdf, kdfParams: slot.kdfParams, added });
          else s.info(added ? `set a passphrase for ${vault.path} (slot ${slot.id})` : `changed the passphrase of ${vault.path}`);
        } finally {
          passphrase.fill(0);
        }
      });
    });
}
