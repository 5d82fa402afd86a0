import type { Command } from 'commander';
import { VaultError } from '../../core/errors.js';
import { addMember, checkMemberName, listMembers, removeMember } from '../../core/members.js';
import { isoTime } from '../../core/time.js';
import { checkMemberPins } from '../member-pins.js';
import { promptConfirm } from '../prompt.js';
import type { IO } from '../io.js';
import { printable } from '../output.js';
import { dateOnly, printTable } from '../render.js';
import { Session } from '../session.js';

/** `vault member add|list|rm`: the members of a team vault (src/core/members.ts). */
export function register(program: Command, io: IO): void {
  const member = program.command('member').description('manage the members of a team vault (people who open it with their identity)');

  member
    .command('add')
    .description('add a member by their public key (from vault identity); they open the vault with their own identity')
    .argument('<name>', 'the member\'s name, e.g. alice')
    .argument('<public-key>', 'the member\'s key, vault-pub1… (vault identity prints it)')
    .action(async (name: string, publicKey: string, _flags: unknown, cmd: Command) => {
      const s = new Session(io, cmd);
      checkMemberName(name);
      await s.withVault(true, (vault) => {
        const { member: m, vaultFingerprint } = addMember(vault, name, publicKey);
        checkMemberPins(s.env, vault, (msg) => s.warn(msg), new Set([name]));
        if (s.json) {
          s.outJson({ name: m.name, fingerprint: m.fingerprint, publicKey: m.publicKey, added: isoTime(m.addedAt), state: m.state, vaultFingerprint });
          return;
        }
        s.out(`added member ${name} (fingerprint ${m.fingerprint})\n`);
        s.out(`vault fingerprint: ${vaultFingerprint}\n`);
        s.info(`compare both with ${name} out of band: their vault identity shows the first, their first open of this vault the second`);
      });
    });

  member
    .command('list')
    .alias('ls')
    .description('list the members, their key fingerprints and state; needs no unlocking')
    .action(async (_flags: unknown, cmd: Command) => {
      const s = new Session(io, cmd);
      const { members, pins } = await s.withVault(false, (vault) => checkMemberPins(s.env, vault, (msg) => s.warn(msg)));
      const changed = (name: string, fp: string): boolean => pins[name]?.fingerprint === fp && pins[name]?.changedFrom !== undefined;
      if (s.json) {
        s.outJson(
          members.map((m) => ({
            name: m.name,
            fingerprint: m.fingerprint,
            publicKey: m.publicKey,
            added: isoTime(m.addedAt),
            lastUsed: isoTime(m.lastUsedAt),
            state: m.state,
            keyChanged: changed(m.name, m.fingerprint),
          })),
        );
      } else if (s.stdoutIsTTY) {
        if (members.length === 0) {
          s.info('no members');
          return;
        }
        await printTable(
          s,
          ['NAME', 'FINGERPRINT', 'ADDED', 'LAST USED', 'STATE'],
          members.map((m) => [m.name, m.fingerprint, dateOnly(m.addedAt), dateOnly(m.lastUsedAt), m.state + (changed(m.name, m.fingerprint) ? ', key changed' : '')]),
        );
      } else {
        s.out(
          members
            .map((m) => `${printable(m.name)}\t${m.fingerprint}\t${isoTime(m.addedAt)}\t${isoTime(m.lastUsedAt) ?? '-'}\t${m.state}${changed(m.name, m.fingerprint) ? '\tkey-changed' : ''}\n`)
            .join(''),
        );
      }
    });

  member
    .command('rm')
    .description('remove a member: a new data key, every value re-encrypted, every secret marked rotation due')
    .argument('<name>', 'the member\'s name, from vault member list')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (name: string, flags: { yes?: boolean }, cmd: Command) => {
      const s = new Session(io, cmd);
      checkMemberName(name);
      await s.withVault(false, async (vault) => {
        const known = listMembers(vault).some((m) => m.name === name);
        if (known && !flags.yes) {
          if (!s.interactive) {
            throw new VaultError('usage', `refusing to remove member ${name} without confirmation`, { hint: 'pass --yes when not in a terminal' });
          }
          const ok = await promptConfirm(io, `Remove member ${name} and rotate the data key?`);
          if (!ok) {
            if (s.json) s.outJson({ name, removed: false });
            else s.info('nothing removed');
            return;
          }
        }
        await s.unlock(vault);
        const oldKey = vault.dataKeyCopy();
        let updated = false;
        let result;
        try {
          result = removeMember(vault, name);
          updated = await s.handOverKey(vault, oldKey);
        } finally {
          oldKey.fill(0);
        }
        if (!result.checkpointed) s.warn('another process has the vault open; old pages may stay in its write-ahead log until that process exits');
        if (s.json) {
          s.outJson({ name, removed: true, fingerprint: result.member.fingerprint, versions: result.versions, slots: result.slots, rotationDue: result.rotationDue, ...(updated ? { session: 'updated' } : {}) });
          return;
        }
        s.info(`removed member ${name} (fingerprint ${result.member.fingerprint}); new data key: re-encrypted ${result.versions} version${result.versions === 1 ? '' : 's'}, re-wrapped ${result.slots} key slot${result.slots === 1 ? '' : 's'}`);
        s.info(`${result.rotationDue} secret${result.rotationDue === 1 ? ' is' : 's are'} now marked rotation due: ${name} may have read ${result.rotationDue === 1 ? 'its value' : 'their values'}; rotate ${result.rotationDue === 1 ? 'it' : 'them'} (vault list shows which)`);
        if (updated) s.info('the running session now holds the new key');
      });
    });
}
