import { listMembers, type MemberInfo } from '../core/members.js';
import type { Vault } from '../core/vault.js';
import { pinsPath, updatePins, type Pins } from '../store/pins.js';

/**
 * The key-change warning (src/store/pins.ts): the members of `vault` compared with this
 * client's pins, each change said once on stderr. Loaded only for a vault with members.
 */
export function checkMemberPins(
  env: NodeJS.ProcessEnv,
  vault: Vault,
  warn: (message: string) => void,
  vouched: ReadonlySet<string> = new Set(),
): { members: MemberInfo[]; pins: Pins } {
  const members = listMembers(vault);
  const { pins, changes } = updatePins(pinsPath(env, vault.id), members, vault.time(), vouched);
  for (const c of changes) {
    warn(`the key of member ${c.name} changed since this client last saw it (fingerprint ${c.from}, now ${c.to}); check the new one with ${c.name} out of band`);
  }
  return { members, pins };
}
