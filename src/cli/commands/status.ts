import type { Command } from 'commander';
import { EXIT_CODE_TABLE, VaultError } from '../../core/errors.js';
import { isoTime } from '../../core/time.js';
import type { IO } from '../io.js';
import { printable } from '../output.js';
import { Session } from '../session.js';

export function register(program: Command, io: IO): void {
  program
    .command('status')
    .description('path, key slots, KDF, counts and audit head; works while locked')
    .action(async (_flags: unknown, cmd: Command) => {
      const s = new Session(io, cmd);
      const st = await s.withVault(false, (vault) => vault.status());
      // Keychain availability is asked only of a vault that has a keychain slot (the probe
      // loads a native module and may wait on D-Bus).
      const keychain = st.slots.some((sl) => sl.kind === 'keychain') ? await s.keychain().probe() : undefined;
      if (s.json) {
        s.outJson({
          path: st.path,
          ...(st.store === 'postgres' ? { store: st.store } : {}),
          vaultId: st.vaultId,
          formatVersion: st.formatVersion,
          schemaVersion: st.schemaVersion,
          created: isoTime(st.createdAt),
          slots: st.slots.map((sl) => ({ id: sl.id, kind: sl.kind, label: sl.label, kdf: sl.kdf, kdfParams: sl.kdfParams, created: isoTime(sl.createdAt), lastUsed: isoTime(sl.lastUsedAt) })),
          secrets: st.secrets,
          removed: st.removed,
          versions: st.versions,
          audit: { entries: st.auditEntries, head: st.auditHead, pending: st.auditPending },
          ...(keychain ? { keychain: { available: keychain.available, reason: keychain.available ? null : keychain.reason } } : {}),
        });
        return;
      }
      const lines = [
        `path:      ${st.path}`,
        ...(st.store === 'postgres' ? ['store:     postgres'] : []),
        `vault id:  ${st.vaultId}`,
        `format:    ${st.formatVersion} (schema ${st.schemaVersion})`,
        `secrets:   ${st.secrets} (${st.versions} versions, ${st.removed} removed)`,
        `audit:     ${st.auditEntries} entries${st.auditHead ? `, head #${st.auditHead.seq} ${st.auditHead.mac}` : ''}${st.auditPending > 0 ? `, ${st.auditPending} failed unlock${st.auditPending === 1 ? '' : 's'} not sealed yet` : ''}`,
        `slots:`,
        ...st.slots.map((sl) => `  ${sl.id}  ${sl.kind.padEnd(10)} ${sl.kdf}${sl.kdfParams ? ` ${sl.kdfParams}` : ''}${sl.label ? `  "${sl.label}"` : ''}`),
        ...(keychain ? [`keychain:  ${keychain.available ? 'available' : `unavailable: ${keychain.reason}`}`] : []),
      ];
      // Each line shows stored text (labels, KDF parameters, ids): control characters escaped.
      s.out(lines.map(printable).join('\n') + '\n');
    });
}

export function registerHelp(program: Command, io: IO): void {
  program
    .command('help')
    .description('help for a command, or: vault help exit-codes')
    .argument('[topic]', 'a command name or exit-codes')
    .action((topic: string | undefined, _flags: unknown, cmd: Command) => {
      const s = new Session(io, cmd);
      if (topic === 'exit-codes') {
        if (s.json) {
          s.outJson(EXIT_CODE_TABLE);
          return;
        }
        s.out('CODE  NAME             WHEN\n');
        for (const row of EXIT_CODE_TABLE) s.out(`${String(row.code).padEnd(4)}  ${row.name.padEnd(15)}  ${row.when}\n`);
        return;
      }
      const target = topic === undefined ? program : program.commands.find((c) => c.name() === topic || c.aliases().includes(topic));
      if (!target) throw unknownTopic(topic!);
      target.outputHelp();
    });
}

function unknownTopic(topic: string): VaultError {
  return new VaultError('usage', `no help topic ${JSON.stringify(topic)}`, { hint: 'vault help lists the commands; vault help exit-codes lists the exit codes' });
}
