import { buildMemberSlot, isUnopenedMember, MAX_ALL_SLOTS } from '../keyring/keyring.js';
import { rotateMasterKey, type MasterRotation, type RotationProgress } from '../keyring/rotate.js';
import type { SlotRow } from '../store/slots.js';
import { VaultError } from './errors.js';
import { fingerprint, formatPublicKey, parsePublicKey } from './identity.js';
import type { Vault } from './vault.js';

/**
 * Team-vault members (issue 11; docs/security.md "Members"). A member is a key slot of kind
 * `member`: its label is the member's name, its public key the member's identity key
 * (src/core/identity.ts), its KDF `none` (the identity secret is the slot's KEK). `member add`
 * needs no secret of the member: the slot starts with no sealed wrap and one pending link
 * (the data key wrapped to the public key), and its MAC under the data key is the vouching
 * record: a slot planted by the server, or a name or key swapped in one, fails it at every
 * unlock. `member rm` deletes the slot and rotates the data key in one transaction.
 */

const NAME_RE = /^[A-Za-z0-9._@-]{1,64}$/;

export function checkMemberName(name: string): string {
  if (!NAME_RE.test(name)) {
    throw new VaultError('usage', `invalid member name ${JSON.stringify(name)}`, { hint: 'a member name is 1-64 of A-Z a-z 0-9 . _ @ -, e.g. alice or alice@example.com' });
  }
  return name;
}

export interface MemberInfo {
  id: string;
  name: string;
  publicKey: string;
  fingerprint: string;
  addedAt: number;
  lastUsedAt: number | null;
  /** `pending`: added, not opened by the member yet; `sealed`: opened at least once */
  state: 'pending' | 'sealed';
}

export function memberInfo(row: SlotRow): MemberInfo {
  const raw = row.public_key ?? Buffer.alloc(0);
  return {
    id: row.id,
    name: row.label ?? '',
    publicKey: formatPublicKey(raw),
    fingerprint: fingerprint(raw),
    addedAt: row.created_at,
    lastUsedAt: row.last_used_at,
    state: isUnopenedMember(row) ? 'pending' : 'sealed',
  };
}

/** The members as the store lists them, by name; needs no key (unverified while locked). */
export function listMembers(vault: Vault): MemberInfo[] {
  return vault
    .slotRows('member')
    .map(memberInfo)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function duplicateName(name: string): VaultError {
  return new VaultError('exists', `a member named ${name} already exists`, { hint: `choose another name, or remove that member first with vault member rm ${name}` });
}

function duplicateKey(name: string): VaultError {
  return new VaultError('exists', `that public key is already the key of member ${name}`, { hint: 'vault member list shows the members and their fingerprints' });
}

/**
 * Adds a member (needs an unlocked vault). Refused: a name or a public key some member has
 * already (exists). Audited `member-add` with the name and the key's fingerprint.
 */
export function addMember(vault: Vault, name: string, publicKeyText: string): { member: MemberInfo; vaultFingerprint: string } {
  checkMemberName(name);
  const raw = parsePublicKey(publicKeyText);
  const dataKey = vault.requireKey();
  const fp = fingerprint(raw);
  const member = vault.audited({ op: 'member-add', detail: { member: name, fingerprint: fp } }, (entry) => {
    const slots = vault.slotRows().length;
    if (slots >= MAX_ALL_SLOTS) {
      throw new VaultError('usage', `the vault has ${slots} key slots, the most a vault may have`, { hint: 'remove members or keys that are no longer used (vault member rm, vault key rm)' });
    }
    const members = vault.slotRows('member');
    if (members.some((r) => r.label === name)) throw duplicateName(name);
    const same = members.find((r) => r.public_key !== null && r.public_key.equals(raw));
    if (same) throw duplicateKey(same.label ?? '');
    const row = buildMemberSlot(vault.id, name, raw, dataKey, vault.time());
    vault.saveSlot(row, false);
    entry.detail = { member: name, fingerprint: fp, slot: row.id };
    return memberInfo(row);
  });
  return { member, vaultFingerprint: vault.fingerprint() };
}

/** A way into the vault that does not depend on one login's keychain. */
function wayIn(row: SlotRow): boolean {
  return row.kind === 'passphrase' || row.kind === 'master-key' || row.kind === 'member';
}

export interface MemberRemoval extends MasterRotation {
  member: MemberInfo;
  /** current secrets marked rotation due after the removal */
  rotationDue: number;
}

/**
 * `member rm NAME`: in ONE transaction, with rotate --master's: the member's slot deleted,
 * every secret with a value marked rotation due, the `member-rm` entry, then a new data key
 * (every version re-encrypted, every remaining slot re-sealed or given a link; the removed
 * slot gets none). The removed member's identity, and any old copy of the vault, never reach
 * the new key. Refused: no such member (not-found), the last way in (usage).
 */
export function removeMember(vault: Vault, name: string, progress?: RotationProgress): MemberRemoval {
  vault.requireKey();
  let removed: MemberInfo | undefined;
  let due = 0;
  const checks = (): SlotRow => {
    const all = vault.slotRows();
    const target = all.find((r) => r.kind === 'member' && r.label === name);
    if (!target) throw new VaultError('not-found', `no member ${name}`, { hint: 'vault member list shows the members' });
    if (!all.some((r) => r.id !== target.id && wayIn(r))) {
      throw new VaultError('usage', `refusing to remove member ${name}: it is the last way into the vault, which could never be unlocked again`, {
        hint: 'add another member or a master key first (vault member add, vault key add)',
      });
    }
    return target;
  };
  // Refusals before any work, recorded as key-rm's are.
  try {
    checks();
  } catch (e) {
    if (e instanceof VaultError) vault.audited({ op: 'member-rm', detail: { member: name } }, () => { throw e; });
    throw e;
  }
  const rotation = rotateMasterKey(vault, progress, {
    detail: { member: name },
    before: () => {
      // Again inside the transaction: another process may have changed the members meanwhile.
      const target = checks();
      removed = memberInfo(target);
      vault.removeSlotRow(target.id);
      // Removed secrets too: vault rollback can bring their values back.
      vault.store.markRotationDue();
      due = vault.store.counts().rotationDue;
      vault.record({ op: 'member-rm', outcome: 'ok', detail: { member: name, fingerprint: removed.fingerprint, slot: target.id, rotationDue: due } });
    },
  });
  return { ...rotation, member: removed!, rotationDue: due };
}
