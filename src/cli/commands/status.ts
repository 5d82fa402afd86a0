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
      const { st, members } = await s.withVault(false, async (vault) => {
        const st = vault.status();
        // Members (team vaults) are listed from their slots, as vault member list does.
        const members = st.slots.some((sl) => sl.kind === 'member') ? (await import('../../core/members.js')).listMembers(vault) : [];
        return { st, members };
      });
      const team = members.length > 0 || st.rotationDue > 0;
      // Keychain availability is asked only of a vault that has a keychain slot (the probe
      // loads a native module and may wait on D-Bus).
      const keychain = st.slots.some((sl) => sl.kind === 'keychain') ? await s.keychain().probe() : undefined;
      const session = await sessionState(s, st.vaultId, st.path);
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
          ...(team ? { rotationDue: st.rotationDue, members: members.map((m) => ({ name: m.name, fingerprint: m.fingerprint, state: m.state })) } : {}),
          audit: { entries: st.auditEntries, head: st.auditHead, pending: st.auditPending },
          ...(keychain ? { keychain: { available: keychain.available, reason: keychain.available ? null : keychain.reason } } : {}),
          session: session.json,
        });
        return;
      }
      const lines = [
        `path:      ${st.path}`,
        ...(st.store === 'postgres' ? ['store:     postgres'] : []),
        `vault id:  ${st.vaultId}`,
        `format:    ${st.formatVersion} (schema ${st.schemaVersion})`,
        `secrets:   ${st.secrets} (${st.versions} versions, ${st.removed} removed${st.rotationDue > 0 ? `, ${st.rotationDue} rotation due` : ''})`,
        `audit:     ${st.auditEntries} entries${st.auditHead ? `, head #${st.auditHead.seq} ${st.auditHead.mac}` : ''}${st.auditPending > 0 ? `, ${st.auditPending} failed unlock${st.auditPending === 1 ? '' : 's'} not sealed yet` : ''}`,
        `session:   ${session.text}`,
        `slots:`,
        ...st.slots.map((sl) => `  ${sl.id}  ${sl.kind.padEnd(10)} ${sl.kdf}${sl.kdfParams ? ` ${sl.kdfParams}` : ''}${sl.label ? `  "${sl.label}"` : ''}`),
        ...(members.length > 0 ? ['members:', ...members.map((m) => `  ${m.name}  ${m.fingerprint}  ${m.state}`)] : []),
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
        s.out(exitCodeText());
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

/** `2h 5m`, `15m`, `59s`: the two largest units of a span. */
export function formatSpan(ms: number): string {
  let left = Math.max(0, Math.floor(ms / 1000));
  const parts: string[] = [];
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    if (left >= size || (unit === 's' && parts.length === 0)) {
      parts.push(`${Math.floor(left / size)}${unit}`);
      left %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join(' ');
}

/** The session line of `vault status` (asks the agent for its timeouts; never for the key). */
async function sessionState(s: Session, vaultId: string, path: string): Promise<{ text: string; json: Record<string, unknown> }> {
  if (!s.sessionsAllowed) return { text: 'off (--no-session or VAULT_SESSION)', json: { state: 'off' } };
  const { sessionPath, sessionStatus } = await import('../../agent/client.js');
  const r = await sessionStatus(s.env);
  if (!r.status) {
    if (r.reach.kind === 'untrusted') return { text: `refused: ${r.reach.path} ${r.reach.why}`, json: { state: 'refused', reason: `${r.reach.path} ${r.reach.why}` } };
    return { text: 'locked (no session; vault unlock starts one)', json: { state: 'none' } };
  }
  let real = path;
  try {
    real = sessionPath(path);
  } catch {
    // the path as given
  }
  const st = r.status;
  if (st.id !== vaultId || st.path !== real) return { text: `locked (the running session is for ${st.path})`, json: { state: 'other-vault', path: st.path } };
  const now = Date.now();
  const ends = Math.min(st.expiresAt, st.idleExpiresAt);
  return {
    text: `unlocked, ${formatSpan(st.expiresAt - now)} left (until ${isoTime(st.expiresAt)}), locks after ${formatSpan(st.idleMs)} without use`,
    json: { state: 'unlocked', expires: isoTime(st.expiresAt), idleSeconds: st.idleMs / 1000, locksAt: isoTime(ends), remainingSeconds: Math.max(0, Math.floor((st.expiresAt - now) / 1000)), pid: st.pid },
  };
}

/** The exit-code table as `vault help exit-codes` prints it: one row a line, columns aligned. */
export function exitCodeText(): string {
  const codeWidth = Math.max(4, ...EXIT_CODE_TABLE.map((r) => String(r.code).length));
  const nameWidth = Math.max(4, ...EXIT_CODE_TABLE.map((r) => r.name.length));
  const line = (code: string, name: string, when: string): string => `${code.padEnd(codeWidth)}  ${name.padEnd(nameWidth)}  ${when}\n`;
  return line('CODE', 'NAME', 'WHEN') + EXIT_CODE_TABLE.map((r) => line(String(r.code), r.name, r.when)).join('');
}
