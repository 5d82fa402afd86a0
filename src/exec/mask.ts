/**
 * Masking of secret values in text a child process prints (`vault exec`), so that a secret
 * echoed by a build script does not end up in a terminal scrollback or CI log.
 *
 * The rule, shared by the string and the streaming form: every occurrence of every value of
 * at least MIN_MASK_LENGTH units (UTF-16 code units for strings, bytes for streams) is
 * covered; each group of occurrences that overlap one another (share at least one unit)
 * becomes a single `*****`; everything not covered passes unchanged. So when values overlap,
 * the longest match at a position wins, and no part of any occurrence is ever shown — with
 * values `abcd` and `cdefgh`, `abcdefgh` becomes `*****`, not `*****efgh`. Occurrences
 * that merely touch (`abcdabcd`) give one `*****` each. Shorter values are left alone:
 * masking every `a` or `1` would destroy the output and protect nothing.
 */
import { Transform, type TransformCallback } from 'node:stream';

export const MASK = '*****';
export const MIN_MASK_LENGTH = 4;

/**
 * Returns `text` with the occurrences of `values` masked as described above. Values shorter
 * than MIN_MASK_LENGTH and duplicates are ignored. Pure; `text` is not modified.
 */
export function maskSecrets(text: string, values: string[]): string {
  // For each start position, the longest occurrence starting there: shorter ones starting at
  // the same place are inside it and cannot change the grouping.
  const longestAt = new Map<number, number>();
  for (const v of new Set(values)) {
    if (v.length < MIN_MASK_LENGTH) continue;
    for (let i = text.indexOf(v); i !== -1; i = text.indexOf(v, i + 1)) {
      if ((longestAt.get(i) ?? 0) < v.length) longestAt.set(i, v.length);
    }
  }
  if (longestAt.size === 0) return text;
  const starts = [...longestAt.keys()].sort((a, b) => a - b);
  let out = '';
  let copied = 0;
  let k = 0;
  while (k < starts.length) {
    const start = starts[k]!;
    let end = start + longestAt.get(start)!;
    for (k++; k < starts.length && starts[k]! < end; k++) end = Math.max(end, starts[k]! + longestAt.get(starts[k]!)!);
    out += text.slice(copied, start) + MASK;
    copied = end;
  }
  return out + text.slice(copied);
}

/**
 * Incremental masking of a byte stream, with the same result as `maskSecrets` on the whole
 * stream read as latin1, however the stream is cut into chunks.
 *
 * `write` returns at once every byte whose fate is decided; it keeps back only the longest
 * suffix that is still a proper prefix of some value (the shortest tail that could become
 * part of a match) — never more than the longest value's length. `end` releases the rest.
 * Each byte is looked at once (an Aho–Corasick automaton), so cost is linear in the stream
 * whatever the number of values; nothing is rescanned.
 */
export class Masker {
  private readonly ac: Automaton;
  private state = 0;
  /** stream offset just after the last byte written */
  private pos = 0;
  /** stream offset of held[0]; everything before it has been returned */
  private emitted = 0;
  private held: Buffer = Buffer.alloc(0);
  /**
   * Groups of overlapping occurrences not yet fully returned, oldest first; disjoint and so
   * ordered by both start and end. Only the oldest can already have had its mask returned.
   */
  private groups: Group[] = [];
  private ended = false;

  constructor(values: Buffer[]) {
    this.ac = new Automaton(values.filter((v) => v.length >= MIN_MASK_LENGTH));
  }

  /** Feeds a chunk; returns the output now decided (possibly empty). */
  write(chunk: Uint8Array): Buffer {
    if (this.ended) throw new Error('Masker: write after end');
    if (chunk.length === 0) return Buffer.alloc(0);
    const data = this.held.length === 0 ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length) : Buffer.concat([this.held, chunk]);
    const ac = this.ac;
    let state = this.state;
    let pos = this.pos;
    for (let i = 0; i < chunk.length; i++) {
      state = ac.step(state, chunk[i]!);
      pos++;
      const len = ac.matchLength[state]!;
      if (len !== 0) this.addOccurrence(pos - len, pos);
    }
    this.state = state;
    this.pos = pos;
    return this.release(data, pos - ac.holdDepth[state]!);
  }

  /** Returns everything still held; the Masker accepts no more input. */
  end(): Buffer {
    if (this.ended) return Buffer.alloc(0);
    this.ended = true;
    return this.release(this.held, this.pos);
  }

  private addOccurrence(start: number, end: number): void {
    // `end` is the furthest end seen so far, so the occurrence overlaps exactly those groups,
    // newest first, that end after `start`.
    const g = this.groups;
    let announced = false;
    while (g.length > 0 && g[g.length - 1]!.end > start) {
      const last = g.pop()!;
      start = Math.min(start, last.start);
      announced ||= last.announced;
    }
    g.push({ start, end, announced });
  }

  /**
   * Returns output for stream offsets [emitted, upTo) — no later occurrence can start before
   * `upTo` — and keeps the bytes from `upTo` on. `data` holds the bytes from `emitted`.
   */
  private release(data: Buffer, upTo: number): Buffer {
    const base = this.emitted;
    const out: Uint8Array[] = [];
    const g = this.groups;
    let next = 0;
    let at = base;
    while (at < upTo) {
      const group = g[next];
      if (group !== undefined && group.start <= at) {
        if (!group.announced) {
          out.push(MASK_BYTES);
          group.announced = true;
        }
        if (group.end <= upTo) {
          // Nothing can join it any more: later occurrences start at or after upTo.
          at = group.end;
          next++;
        } else {
          at = upTo;
        }
      } else {
        const stop = group === undefined ? upTo : Math.min(group.start, upTo);
        out.push(data.subarray(at - base, stop - base));
        at = stop;
      }
    }
    // A group starting exactly at upTo cannot start any earlier later on, and everything
    // before it has been returned, so its mask can go out now rather than with the next chunk.
    const first = g[next];
    if (first !== undefined && first.start <= upTo && !first.announced) {
      out.push(MASK_BYTES);
      first.announced = true;
    }
    if (next > 0) this.groups = g.slice(next);
    // Copy the tail so a large chunk is not kept alive by a few held bytes.
    this.held = Buffer.from(data.subarray(upTo - base));
    this.emitted = upTo;
    return out.length === 1 ? Buffer.from(out[0]!) : Buffer.concat(out);
  }
}

/**
 * A Transform (bytes in, bytes out) that masks `values` in what flows through it; meant for a
 * child's stdout and stderr. Output is pushed as soon as each chunk is processed (no timers)
 * and the held tail is flushed at end, so piping through it changes only the masked bytes.
 */
export function createMaskStream(values: Buffer[]): Transform {
  const masker = new Masker(values);
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
      const out = masker.write(chunk);
      callback(null, out.length > 0 ? out : undefined);
    },
    flush(callback: TransformCallback): void {
      const out = masker.end();
      callback(null, out.length > 0 ? out : undefined);
    },
  });
}

// ---------------------------------------------------------------------------------------------

const MASK_BYTES = Buffer.from(MASK, 'latin1');

interface Group {
  start: number;
  end: number;
  /** its `*****` has been returned; its remaining bytes are dropped as they are released */
  announced: boolean;
}

/**
 * Aho–Corasick over bytes. Root transitions are a dense table (most bytes of ordinary output
 * leave the automaton at the root, so that path must be cheap); deeper ones live in one Map
 * keyed by state*256+byte, which stays compact even for large values such as certificates.
 */
class Automaton {
  private readonly root = new Int32Array(256);
  private readonly edges = new Map<number, number>();
  private readonly fail: Int32Array;
  /** length of the longest value ending at this state (0 if none) */
  readonly matchLength: Int32Array;
  /** length of the longest suffix of this state's bytes that is a proper prefix of a value */
  readonly holdDepth: Int32Array;

  constructor(values: Buffer[]) {
    let size = 1;
    for (const v of values) size += v.length;
    const depth = new Int32Array(size);
    const terminal = new Uint8Array(size);
    const hasChild = new Uint8Array(size);
    const children: number[][] = [[]];
    let count = 1;
    for (const v of values) {
      let s = 0;
      for (const b of v) {
        let t = this.edge(s, b);
        if (t === 0) {
          t = count++;
          depth[t] = depth[s]! + 1;
          children.push([]);
          children[s]!.push(t);
          hasChild[s] = 1;
          if (s === 0) this.root[b] = t;
          else this.edges.set(s * 256 + b, t);
        }
        s = t;
      }
      terminal[s] = 1;
    }
    this.fail = new Int32Array(count);
    this.matchLength = new Int32Array(count);
    this.holdDepth = new Int32Array(count);
    const label = new Uint8Array(count);
    for (let b = 0; b < 256; b++) if (this.root[b] !== 0) label[this.root[b]!] = b;
    for (const [key, t] of this.edges) label[t] = key & 255;
    // Breadth-first, so a state's failure target is complete before the state is.
    const queue: number[] = [0];
    for (let qi = 0; qi < queue.length; qi++) {
      const s = queue[qi]!;
      if (s !== 0) {
        const f = this.fail[s]!;
        this.matchLength[s] = terminal[s] ? depth[s]! : this.matchLength[f]!;
        this.holdDepth[s] = hasChild[s] ? depth[s]! : this.holdDepth[f]!;
      }
      for (const t of children[s]!) {
        this.fail[t] = s === 0 ? 0 : this.step(this.fail[s]!, label[t]!);
        queue.push(t);
      }
    }
  }

  private edge(s: number, b: number): number {
    return s === 0 ? this.root[b]! : (this.edges.get(s * 256 + b) ?? 0);
  }

  step(s: number, b: number): number {
    while (s !== 0) {
      const t = this.edges.get(s * 256 + b);
      if (t !== undefined) return t;
      s = this.fail[s]!;
    }
    return this.root[b]!;
  }
}
