import type { Command } from 'commander';
import { VaultError } from '../../core/errors.js';
import { isoTime } from '../../core/time.js';
import { promptConfirm } from '../prompt.js';
import { addMasterKey, removeSlot } from '../../unlock/slots.js';
import type { IO } from '../io.js';
import { jsonText, printable } from '../output.js';
import { dateOnly, printTable } from '../render.js';
import { Session } from '../session.js';

/** `vault key add|list|rm`: master-key slots for CI; `list` shows every slot. */
export function register(program: Command, io: IO): void {
  const key = program.command('key').description('manage master keys for CI (VAULT_MASTER_KEY)');

  key
    .command('add')
    .description('add a master-key slot and print its key once on stdout')
    .requiredOption('--label <label>', 'what the key is for, e.g. github-actions')
    .action(async (flags: { label: string }, cmd: Command) => {
      const s = new Session(io, cmd);
      await s.withVault(true, async (vault) => {
        const { slot, key: text } = await addMasterKey(vault, flags.label);
        if (s.json) {
          s.outJson({ id: slot.id, kind: slot.kind, label: slot.label, created: isoTime(slot.createdAt), key: text });
        } else {
          s.out(`${text}\n`);
          s.info(`added master key ${slot.id} (${jsonText(slot.label)}); it is shown only this once: store it now, e.g. as the CI secret VAULT_MASTER_KEY`);
        }
      });
    });

  key
    .command('list')
    .alias('ls')
    .description('list the key slots (no key material); needs no unlocking')
    .action(async (_flags: unknown, cmd: Command) => {
      const s = new Session(io, cmd);
      const slots = await s.withVault(false, (vault) => vault.slots());
      if (s.json) {
        s.outJson(slots.map((sl) => ({ id: sl.id, kind: sl.kind, label: sl.label, created: isoTime(sl.createdAt), lastUsed: isoTime(sl.lastUsedAt), state: sl.state })));
      } else if (s.stdoutIsTTY) {
        await printTable(
          s,
          ['ID', 'KIND', 'LABEL', 'CREATED', 'LAST USED', 'STATE'],
          slots.map((sl) => [sl.id, sl.kind, sl.label ?? '', dateOnly(sl.createdAt), dateOnly(sl.lastUsedAt), sl.state]),
        );
      } else {
        s.out(slots.map((sl) => `${printable(sl.id)}\t${printable(sl.kind)}\t${printable(sl.label ?? '')}\t${isoTime(sl.createdAt)}\t${isoTime(sl.lastUsedAt) ?? '-'}\t${sl.state}\n`).join(''));
      }
    });

  key
    .command('rm')
    .description('revoke a key slot: its key no longer unlocks the vault')
    .argument('<id>', 'the slot id, from vault key list')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (id: string, flags: { yes?: boolean }, cmd: Command) => {
      const s = new Session(io, cmd);
      await s.withVault(false, async (vault) => {
        const all = vault.slots();
        const target = all.find((sl) => sl.id === id);
        // What removeSlot refuses anyway (no such slot, the keychain slot, the last way in) is not asked about first.
        const refused = !target || target.kind === 'keychain' || target.kind === 'member' || !all.some((sl) => sl.id !== id && sl.kind !== 'keychain');
        if (target && !refused && !flags.yes) {
          const what = `${target.kind} slot ${printable(target.id)}${target.label ? ` (${jsonText(target.label)})` : ''}`;
          if (!s.interactive) {
            throw new VaultError('usage', `refusing to revoke the ${what} without confirmation`, { hint: 'pass --yes when not in a terminal' });
          }
          const warning = target.kind === 'passphrase' ? ' The passphrase will no longer unlock this vault.' : '';
          if (!(await promptConfirm(io, `Revoke the ${what}?${warning}`))) {
            if (s.json) s.outJson({ id: target.id, kind: target.kind, label: target.label, removed: false });
            else s.info('nothing removed');
            return;
          }
        }
        await s.unlock(vault);
        const slot = removeSlot(vault, id);
        if (s.json) s.outJson({ id: slot.id, kind: slot.kind, label: slot.label, removed: true });
        else s.info(`revoked ${slot.kind} slot ${printable(slot.id)}${slot.label ? ` (${jsonText(slot.label)})` : ''}`);
      });
    });
}
