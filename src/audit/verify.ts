import { entryMac, GENESIS_MAC, headIsAuthentic, isFailedUnlock, keyFor, macEquals, type AuditKey, type AuditRow, type ChainHead } from './log.js';

/**
 * Verification of the audit chain. The chain is walked in seq order from the genesis MAC;
 * at the first entry that does not verify, the damage is classified:
 *
 *  - `missing`: one or more entries were deleted. Seen as a gap in seq, as an entry whose MAC
 *    continues from a MAC no stored entry has (deleted, then the later entries renumbered),
 *    as a head record that names a later entry than the last one (deleted from the end), or
 *    as a seq counter ahead of the last entry (a failed unlock deleted while still unsealed).
 *  - `edited`: an entry's content (or MAC) changed in place. Its MAC does not fit its content,
 *    but the next entry chains from its stored MAC (or the head record vouches for it).
 *  - `inserted`: an entry that is not part of the chain. Its MAC does not fit, but the next
 *    entry chains over it from the one before; or it comes after the head; or it has no MAC
 *    and is not a failed unlock.
 *  - `reordered`: entries moved. The entry found at this place was written elsewhere in the
 *    chain: its MAC fits at a later position, after an entry that is stored after it.
 *
 * The failure names the first affected seq (for `missing`, the first missing seq).
 */

export type AuditFailureKind = 'edited' | 'missing' | 'reordered' | 'inserted';

export interface AuditFailure {
  /** the seq of the first entry that fails (for `missing`, the first missing seq) */
  seq: number;
  kind: AuditFailureKind;
  /** lowercase, one clause, no value: why this entry was classified so */
  reason: string;
}

export interface AuditVerification {
  /** sealed entries whose MAC verified before the first failure (all of them when ok) */
  entries: number;
  /** failed unlocks recorded while locked and not sealed yet (only at the end of the log) */
  pending: number;
  /** the last verified entry: seq and the first 16 hex digits of its MAC */
  head: { seq: number; mac: string } | null;
  failure: AuditFailure | null;
}

/** Upper bound on whole-log searches while classifying: classification is best effort. */
const MAX_SCANS = 32;

/** What the walk reads, from one consistent snapshot of any store (src/store/store.ts). */
export interface ChainSource {
  /** every row by seq, streamed */
  rows(): Iterable<AuditRow>;
  /** every row by seq, at once (only a failure needs them all) */
  all(): AuditRow[];
  head: ChainHead | 'malformed' | null;
  counter: number | null;
}

/** Walks the chain over the rows a store read from one snapshot (src/store/audit.ts for SQLite, src/store/pg). */
export function verifyRows(src: ChainSource, keys: ReadonlyArray<AuditKey>, vaultId: string): AuditVerification {
  return walk(src, keys, vaultId);
}

function walk(src: ChainSource, keys: ReadonlyArray<AuditKey>, vaultId: string): AuditVerification {
  // Each entry is MACed by the audit key of its epoch; rotate --master starts a new epoch, and
  // its first entry chains from the last one of the old epoch, linking the two chains.
  const key = keys[keys.length - 1]!.key;
  let loaded: AuditRow[] | null = null;
  const all = (): AuditRow[] => (loaded ??= src.all());
  const stored = src.head;
  const head: ChainHead | null = stored && stored !== 'malformed' && headIsAuthentic(key, vaultId, stored) ? stored : null;
  const counter = src.counter;

  const fits = (row: AuditRow, seq: number, prev: Buffer): boolean =>
    row.mac !== null && row.mac.length === 32 && macEquals(entryMac(keyFor(keys, seq), vaultId, { ...row, seq }, prev), row.mac);

  let prev: Buffer = GENESIS_MAC;
  let expect = 1;
  let lastGood: AuditRow | null = null;
  let entries = 0;
  let pending = 0;
  const result = (failure: AuditFailure | null): AuditVerification => ({
    entries,
    pending: failure ? 0 : pending,
    head: lastGood ? { seq: lastGood.seq, mac: lastGood.mac!.toString('hex').slice(0, 16) } : null,
    failure,
  });
  const fail = (seq: number, kind: AuditFailureKind, reason: string): AuditVerification => result({ seq, kind, reason });
  const span = (from: number, to: number): string => (from === to ? `entry #${from} was` : `entries #${from} to #${to} were`);

  /** The entry at index i is sealed but does not fit after `prev` at seq `expect`. */
  const classify = (i: number): AuditVerification => {
    const rows = all();
    const e = rows[i]!;
    const t = expect;
    if (e.seq > t) return fail(t, 'missing', `${span(t, e.seq - 1)} deleted`);
    const next = rows[i + 1]?.mac ? rows[i + 1]! : undefined;
    if ((next && fits(next, next.seq, e.mac!)) || (head && head.seq === e.seq && macEquals(head.mac, e.mac!))) {
      return fail(e.seq, 'edited', 'its content no longer matches its mac');
    }
    // Where is the entry that was really written as #t?
    let scans = 0;
    const findSuccessor = (after: number, seq: number, mac: Buffer, skip: Set<number>): number => {
      if (after + 1 < rows.length && !skip.has(after + 1) && fits(rows[after + 1]!, seq, mac)) return after + 1;
      if (++scans > MAX_SCANS) return -1;
      for (let j = i + 1; j < rows.length; j++) if (!skip.has(j) && fits(rows[j]!, seq, mac)) return j;
      return -1;
    };
    const seen = new Set<number>();
    const p = findSuccessor(i, t, prev, seen);
    if (p !== -1) {
      // Follow the real chain from there: does it reach the entry found at #t?
      let cur = p;
      let seq = t;
      seen.add(p);
      for (;;) {
        if (fits(e, seq + 1, rows[cur]!.mac!)) {
          return fail(e.seq, 'reordered', `it was written as #${seq + 1}, after the entry now stored as #${rows[cur]!.seq}`);
        }
        const q = findSuccessor(cur, seq + 1, rows[cur]!.mac!, seen);
        if (q === -1) break;
        seen.add(q);
        cur = q;
        seq++;
      }
      return fail(e.seq, 'inserted', `it is not part of the chain, which continues from #${t - 1} to the entry stored as #${rows[p]!.seq}`);
    }
    // No stored entry continues from #t-1: was #t deleted and the later entries renumbered?
    if (next) {
      for (let k = 1; k <= rows.length; k++) {
        if (fits(next, next.seq + k, e.mac!)) return fail(t, 'missing', `${span(t, t + k - 1)} deleted and the later entries renumbered`);
      }
    }
    return fail(e.seq, 'edited', 'its mac does not match its content or its place in the chain');
  };

  /** The entry at index i has no MAC but sealed entries follow it. */
  const classifyUnsealed = (i: number): AuditVerification => {
    const rows = all();
    const e = rows[i]!;
    let j = i + 1;
    while (rows[j]!.mac === null) j++;
    const next = rows[j]!;
    if (fits(next, next.seq, prev) || fits(next, expect, prev)) {
      return fail(e.seq, 'inserted', `it has no mac and the chain continues over it from #${expect - 1}`);
    }
    return fail(e.seq, 'edited', 'its mac was removed');
  };

  // Unsealed rows seen since the last sealed one: the pending tail if nothing sealed follows.
  const tail: AuditRow[] = [];
  let index = 0;
  let failed: (() => AuditVerification) | null = null;
  for (const e of src.rows()) {
    if (e.mac === null) {
      tail.push(e);
      index++;
      continue;
    }
    if (tail.length > 0) {
      const at = index - tail.length;
      failed = () => classifyUnsealed(at);
      break;
    }
    if (head && lastGood && lastGood.seq === head.seq && macEquals(prev, head.mac)) {
      const seq = e.seq;
      failed = () => fail(seq, 'inserted', `it comes after #${head.seq}, the last entry the chain head record vouches for`);
      break;
    }
    if (fits(e, e.seq, prev)) {
      // The MAC covers the seq, so this gap was there when the entry was written: a failed
      // unlock deleted while unsealed, or entries deleted from the end, before this append.
      if (e.seq !== expect) {
        const seq = e.seq;
        failed = () => fail(expect, 'missing', `${span(expect, seq - 1)} deleted before entry #${seq} was written`);
        break;
      }
      prev = e.mac;
      expect = e.seq + 1;
      lastGood = e;
      entries++;
      index++;
      continue;
    }
    const at = index;
    failed = () => classify(at);
    break;
  }
  if (failed) return failed();

  // Unsealed rows at the end: one that the head vouches for has lost its MAC.
  for (const p of tail) {
    if (head && p.seq <= head.seq) return fail(p.seq, 'edited', 'its mac was removed');
  }
  if (entries > 0 || stored !== null) {
    if (stored === null) return fail(expect, 'missing', `the chain head record is missing, so entries after #${expect - 1} may have been deleted`);
    if (!head) return fail(expect - 1, 'edited', 'the chain head record was altered');
    if (head.seq > (lastGood?.seq ?? 0)) return fail(expect, 'missing', `${span(expect, head.seq)} deleted from the end of the log`);
    if (head.seq < lastGood!.seq || !macEquals(head.mac, prev)) {
      return fail(head.seq, 'edited', 'the chain head record names an older entry than the last one (an old copy was put back)');
    }
  }
  for (const p of tail) {
    if (!isFailedUnlock(p)) return fail(p.seq, 'inserted', 'it has no mac and is not a failed unlock, the only entry written without one');
    if (p.seq !== expect) return fail(expect, 'missing', `${span(expect, p.seq - 1)} deleted while not yet sealed`);
    expect = p.seq + 1;
    pending++;
  }
  if (counter !== null && counter > expect) return fail(expect, 'missing', `${span(expect, counter - 1)} deleted from the end of the log while not yet sealed`);
  return result(null);
}
