import type { Command } from 'commander';
import { VaultError } from '../../core/errors.js';
import { isoTime } from '../../core/time.js';
import { disableKeychain, enableKeychain, keychainStatus } from '../../unlock/keychain-slot.js';
import type { IO } from '../io.js';
import { printable } from '../output.js';
import { Session } from '../session.js';

/** What the OS keychain is called where we run. */
export function keychainName(platform: NodeJS.Platform = process.platform): string {
  if (platform === 'darwin') return 'macOS Keychain';
  if (platform === 'win32') return 'Windows Credential Manager';
  return 'Secret Service';
}

/** `vault keychain enable|disable|status`: the keychain slot (SPEC §3, §4). */
export function register(program: Command, io: IO): void {
  const keychain = program.command('keychain').description('unlock this vault with the OS keychain, without a passphrase');

  keychain
    .command('enable')
    .description('store a random key in the OS keychain and add a keychain slot for it')
    .action(async (_flags: unknown, cmd: Command) => {
      const s = new Session(io, cmd);
      await s.withVault(true, async (vault) => {
        const { slot, state } = await enableKeychain(vault, s.keychain());
        if (s.json) s.outJson({ slot: slot.id, state });
        else if (state === 'already') s.info(`the OS keychain already unlocks ${vault.path}`);
        else if (state === 'replaced') s.info(`stored a new key in the OS keychain for ${vault.path} (the old one was missing or wrong)`);
        else s.info(`enabled the OS keychain for ${vault.path}: on this login it unlocks without a passphrase`);
      });
    });

  keychain
    .command('disable')
    .description('remove the keychain slot and delete its key from the OS keychain')
    .action(async (_flags: unknown, cmd: Command) => {
      const s = new Session(io, cmd);
      await s.withVault(false, async (vault) => {
        if (!vault.hasSlot('keychain')) throw new VaultError('not-found', 'the vault has no keychain slot', { hint: 'vault keychain enable adds one' });
        await s.unlock(vault);
        const { slot, entry } = await disableKeychain(vault, s.keychain());
        if (typeof entry === 'object') {
          s.warn(`could not delete the key from the OS keychain (${entry.unavailable}); delete the entry with service "vault" and account "${vault.id}" yourself`);
        }
        if (s.json) s.outJson({ slot: slot.id, entry: typeof entry === 'object' ? 'unavailable' : entry });
        else s.info(`disabled the OS keychain for ${vault.path}${entry === 'absent' ? ' (its key was already gone from the keychain)' : ''}`);
      });
    });

  keychain
    .command('status')
    .description('whether the vault has a keychain slot and the keychain answers; needs no unlocking')
    .action(async (_flags: unknown, cmd: Command) => {
      const s = new Session(io, cmd);
      const st = await s.withVault(false, (vault) => keychainStatus(vault, s.keychain()));
      if (s.json) {
        s.outJson({
          slot: st.slot ? { id: st.slot.id, created: isoTime(st.slot.createdAt), lastUsed: isoTime(st.slot.lastUsedAt) } : null,
          keychain: keychainName(),
          available: st.keychain.available,
          reason: st.keychain.available ? null : st.keychain.reason,
          key: st.key,
        });
        return;
      }
      const lines = [
        `slot:     ${st.slot ? `${st.slot.id} (created ${isoTime(st.slot.createdAt)}, last used ${isoTime(st.slot.lastUsedAt) ?? 'never'})` : 'none'}`,
        `keychain: ${st.keychain.available ? `available (${keychainName()})` : `unavailable: ${st.keychain.reason}`}`,
      ];
      if (st.key !== null) {
        lines.push(`key:      ${st.key === 'ok' ? 'stored; it opens the vault' : st.key === 'missing' ? 'missing from the keychain' : 'stored, but it does not open the vault'}`);
      }
      // The slot's id comes from the file and the reason from the keychain: control characters escaped.
      s.out(lines.map(printable).join('\n') + '\n');
    });
}
