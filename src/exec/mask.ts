/**
 * Masking of secret values in text a child process prints (`vault exec --mask`, the MCP
 * tools), so that a secret echoed by a build script does not end up in a terminal scrollback,
 * a CI log or a model's context — neither as itself nor in one of the encodings programs
 * commonly apply to secrets on their way out (see `encodedForms`).
 *
 * The rule, shared by the string and the streaming form: every occurrence of every pattern
 * (a value of at least MIN_MASK_LENGTH units — UTF-16 code units for strings, bytes for
 * streams — or one of its encoded forms) is covered; each group of occurrences that overlap
 * one another (share at least one unit) becomes a single `*****`; everything not covered
 * passes unchanged. So when patterns overlap, the longest match at a position wins, and no
 * part of any occurrence is ever shown — with values `abcd` and `cdefgh`, `abcdefgh` becomes
 * `*****`, not `*****efgh`. Occurrences that merely touch (`abcdabcd`) give one `*****`
 * each. Shorter values are left alone: masking every `a` or `1` would destroy the output and
 * protect nothing.
 */
import { Transform, type TransformCallback } from 'node:stream';

export const MASK = '*****';
export const MIN_MASK_LENGTH = 4;

/** How a pattern was derived from a value. */
export type MaskForm = 'raw' | 'hex' | 'base64' | 'base64url' | 'url';

export interface EncodedForm {
  form: MaskForm;
  /** the pattern, one byte per char (latin1; every encoded form is ASCII) */
  text: string;
}

/**
 * The patterns that stand for `value` (its bytes) in output, distinct, the raw value first:
 *
 * - `hex`: lower and upper case.
 * - `base64` / `base64url`: a value inside a larger base64 stream is encoded differently at
 *   each of the 3 byte offsets modulo 3, and the first and last characters of its stretch
 *   also carry bits of its neighbours. For each offset k the *stable core* is the run of
 *   characters whose 6 bits all come from the value: characters ceil(8k/6) up to
 *   floor((8k+8n)/6) of base64(k zero bytes + value). Each core is also given with its tail
 *   as it is when the value ends the encoded data (the last partial character, zero-filled,
 *   with and without `=` padding), so a value encoded on its own (or last, as in
 *   `Authorization: Basic base64(user:password)`) is masked whole. base64url is the same with
 *   `-_` for `+/`.
 * - `url`: percent-encoding as `encodeURIComponent` does (keeps `A-Za-z0-9-_.!~*'()`), as
 *   RFC 3986 strictly does (keeps `A-Za-z0-9-._~`), and as HTML forms do (keeps
 *   `A-Za-z0-9*-._`, space as `+`), each with upper- and lower-case hex digits.
 *
 * A value shorter than MIN_MASK_LENGTH bytes has no forms; for a longer one every form is at
 * least 4 characters (the shortest is the 4-character base64 core at offset 1).
 */
export function encodedForms(value: Uint8Array): EncodedForm[] {
  if (value.length < MIN_MASK_LENGTH) return [];
  const v = Buffer.from(value.buffer, value.byteOffset, value.length);
  const seen = new Map<string, MaskForm>();
  const add = (form: MaskForm, text: string): void => {
    if (text.length >= MIN_MASK_LENGTH && !seen.has(text)) seen.set(text, form);
  };
  const raw = v.toString('latin1');
  add('raw', raw);
  const hex = v.toString('hex');
  add('hex', hex);
  add('hex', hex.toUpperCase());
  const n = v.length;
  // Two zero bytes, then the value: subarray(2 - k) is the value at offset k.
  const shifted = Buffer.allocUnsafe(n + 2);
  shifted[0] = 0;
  shifted[1] = 0;
  v.copy(shifted, 2);
  for (let k = 0; k < 3; k++) {
    const encoded = shifted.toString('base64', 2 - k);
    const start = Math.ceil((8 * k) / 6);
    const end = Math.floor((8 * k + 8 * n) / 6);
    const padded = encoded.slice(start);
    const unpadded = padded.endsWith('=') ? padded.slice(0, padded.indexOf('=')) : padded;
    const core = unpadded.slice(0, end - start);
    const url = padded.includes('+') || padded.includes('/');
    for (const text of [core, unpadded, padded]) {
      add('base64', text);
      if (url) add('base64url', text.replace(/[+/]/g, (c) => (c === '+' ? '-' : '_')));
    }
  }
  for (const keep of [URI_COMPONENT, RFC3986, FORM]) {
    if (!v.some((b) => keep[b] === 0)) continue;
    for (const digits of [HEX_UPPER, HEX_LOWER]) add('url', percentEncode(v, keep, digits, keep === FORM));
  }
  return [...seen].map(([text, form]) => ({ form, text }));
}

/**
 * Returns `text` with the occurrences of `values` and of their encoded forms (of their UTF-8
 * bytes) masked as described above. Values shorter than MIN_MASK_LENGTH and duplicates are
 * ignored. Pure; `text` is not modified. Meant for short texts (it searches once per
 * pattern); streams go through Masker.
 */
export function maskSecrets(text: string, values: string[]): string {
  const patterns = new Set<string>();
  for (const v of new Set(values)) {
    if (v.length < MIN_MASK_LENGTH) continue;
    patterns.add(v);
    // Every encoded form is ASCII, so its latin1 text is the same JS string.
    for (const f of encodedForms(Buffer.from(v, 'utf8'))) if (f.form !== 'raw') patterns.add(f.text);
  }
  // For each start position, the longest occurrence starting there: shorter ones starting at
  // the same place are inside it and cannot change the grouping.
  const longestAt = new Map<number, number>();
  for (const p of patterns) {
    for (let i = text.indexOf(p); i !== -1; i = text.indexOf(p, i + 1)) {
      if ((longestAt.get(i) ?? 0) < p.length) longestAt.set(i, p.length);
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
 * The compiled patterns of a set of values (each value and its encoded forms), ready to be
 * shared by several Maskers — `exec --mask` filters stdout and stderr with one compilation.
 */
export class MaskPatterns {
  /** @internal */
  readonly automaton: Automaton;
  /** the number of distinct patterns */
  readonly size: number;

  /** `encodings: false` masks the raw values only. */
  constructor(values: Uint8Array[], options: { encodings?: boolean } = {}) {
    const patterns = new Set<string>();
    for (const value of values) {
      if (value.length < MIN_MASK_LENGTH) continue;
      if (options.encodings === false) patterns.add(Buffer.from(value.buffer, value.byteOffset, value.length).toString('latin1'));
      else for (const f of encodedForms(value)) patterns.add(f.text);
    }
    this.size = patterns.size;
    this.automaton = new Automaton([...patterns]);
  }
}

/**
 * Incremental masking of a byte stream, with the same result as masking the whole stream at
 * once (read as latin1), however the stream is cut into chunks.
 *
 * `write` returns at once every byte whose fate is decided; it keeps back only the longest
 * suffix that is still a proper prefix of some pattern (the shortest tail that could become
 * part of a match) — never more than the longest pattern's length. `end` releases the rest.
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
  /** (index in chunk, state) of the matches found by the last scan */
  private readonly hits: number[] = [];

  /** `values`: the raw values (their encoded forms are masked too), or compiled patterns. */
  constructor(values: Uint8Array[] | MaskPatterns) {
    this.ac = (values instanceof MaskPatterns ? values : new MaskPatterns(values)).automaton;
  }

  /** Feeds a chunk; returns the output now decided (possibly empty). */
  write(chunk: Uint8Array): Buffer {
    if (this.ended) throw new Error('Masker: write after end');
    if (chunk.length === 0) return Buffer.alloc(0);
    const data = this.held.length === 0 ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length) : Buffer.concat([this.held, chunk]);
    const ac = this.ac;
    const base = this.pos;
    const n = chunk.length;
    const hits = this.hits;
    hits.length = 0;
    this.state = scan(ac, chunk, this.state, hits);
    for (let h = 0; h < hits.length; h += 2) this.addOccurrence(base + hits[h]! + 1 - ac.matchLength[hits[h + 1]!]!, base + hits[h]! + 1);
    this.pos = base + n;
    return this.release(data, this.pos - ac.holdDepth[this.state]!);
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
    // One piece is returned as it is: it may share memory with the chunk written.
    return out.length === 1 ? Buffer.from(out[0]!.buffer, out[0]!.byteOffset, out[0]!.length) : Buffer.concat(out);
  }
}

/**
 * A Transform (bytes in, bytes out) that masks `values` (and their encoded forms) in what
 * flows through it; meant for a child's stdout and stderr. Output is pushed as soon as each
 * chunk is processed (no timers) and the held tail is flushed at end, so piping through it
 * changes only the masked bytes.
 */
export function createMaskStream(values: Uint8Array[] | MaskPatterns): Transform {
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

/**
 * Runs `chunk` through the automaton from `state`; pushes (index in chunk, state) at each
 * byte where a pattern ends (`matchLength[state]` is the longest; `patternAt` and `dictLink`
 * give them all); returns the state after the chunk.
 * This loop is the whole cost of masking and scanning. In a dense state the state is carried
 * as its row offset; an entry's low bit flags a target that needs a look (a match ends there,
 * or it has no dense row).
 */
export function scan(ac: Automaton, chunk: Uint8Array, state: number, hits: number[]): number {
  const { table, shift, denseRows, classes, childStart, label, fail, matchLength } = ac;
  let off = state < denseRows ? state << shift : -1;
  for (let i = 0, n = chunk.length; i < n; i++) {
    const b = chunk[i]!;
    if (off >= 0) {
      const e = table[off + classes[b]!]!;
      off = e >>> 1;
      if ((e & 1) === 0) continue;
      state = off;
    } else {
      let s = state;
      found: {
        while (s >= denseRows) {
          // Children are in byte order: a binary search, which for the usual one child is one look.
          let lo = childStart[s]!;
          let hi = childStart[s + 1]! - 1;
          while (lo <= hi) {
            const mid = (lo + hi) >>> 1;
            const l = label[mid]!;
            if (l === b) {
              s = mid;
              break found;
            }
            if (l < b) lo = mid + 1;
            else hi = mid - 1;
          }
          s = fail[s]!;
        }
        const e = table[(s << shift) + classes[b]!]!;
        s = (e & 1) === 0 ? (e >>> 1) >>> shift : e >>> 1;
      }
      state = s;
    }
    off = state < denseRows ? state << shift : -1;
    if (matchLength[state] !== 0) hits.push(i, state);
  }
  return off >= 0 ? off >>> shift : state;
}

const MASK_BYTES = Buffer.from(MASK, 'latin1');

interface Group {
  start: number;
  end: number;
  /** its `*****` has been returned; its remaining bytes are dropped as they are released */
  announced: boolean;
}

const HEX_UPPER = Buffer.from('0123456789ABCDEF');
const HEX_LOWER = Buffer.from('0123456789abcdef');

/** 1 for the bytes a percent-encoding keeps as they are. */
function keepSet(extra: string): Uint8Array {
  const keep = new Uint8Array(256);
  const plain = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789' + extra;
  for (let i = 0; i < plain.length; i++) keep[plain.charCodeAt(i)] = 1;
  return keep;
}

const URI_COMPONENT = keepSet("-_.!~*'()");
const RFC3986 = keepSet('-._~');
const FORM = keepSet('*-._');

function percentEncode(v: Buffer, keep: Uint8Array, digits: Buffer, spaceAsPlus: boolean): string {
  const out = Buffer.allocUnsafe(v.length * 3);
  let j = 0;
  for (const b of v) {
    if (keep[b]) out[j++] = b;
    else if (spaceAsPlus && b === 0x20) out[j++] = 0x2b;
    else {
      out[j++] = 0x25;
      out[j++] = digits[b >> 4]!;
      out[j++] = digits[b & 15]!;
    }
  }
  return out.toString('latin1', 0, j);
}

/**
 * Rows of the dense transition table: at most this many entries (4 bytes each) in all. The
 * shallow states, which ordinary output visits nearly all the time, get a full row; deeper
 * ones (long chains, one child each for random secrets) keep their few edges.
 */
const DENSE_BUDGET = 1 << 20;

/**
 * Aho–Corasick over bytes, built without hashing for any number of patterns:
 *
 * - The trie is built from the sorted patterns (each shares its longest common prefix with
 *   the one before it), then renumbered breadth first, so the children of a state are
 *   consecutive states (`childStart[s]` to `childStart[s + 1]`) in byte order, and every
 *   state comes after its failure target.
 * - The first `denseRows` states (the shallowest) get a full row of the deterministic
 *   automaton (failures resolved), over byte classes: bytes that occur in no pattern share
 *   class 0, which always leads back to the root.
 * - A step from a deeper state scans its few edges, else follows its failure link; the chain
 *   ends at the first dense state, so a byte costs a handful of typed-array reads and the
 *   total stays linear in the input (each failure hop lowers the depth gained one per byte).
 */
export class Automaton {
  readonly states: number;
  readonly childStart: Int32Array;
  readonly label: Uint8Array;
  readonly fail: Int32Array;
  /** length of the longest pattern ending at this state (0 if none) */
  readonly matchLength: Int32Array;
  /** length of the longest suffix of this state's bytes that is a proper prefix of a pattern */
  readonly holdDepth: Int32Array;
  /** index (in the constructor's list) of the pattern this state spells, or -1 */
  readonly patternAt: Int32Array;
  /** the nearest state on the failure chain (excluding this one) that spells a pattern, or -1 */
  readonly dictLink: Int32Array;
  readonly classes = new Uint8Array(256);
  /** log2 of a dense row's length (the number of byte classes, rounded up to a power of 2) */
  readonly shift: number;
  readonly denseRows: number;
  /**
   * The dense rows, row s at s << shift. An entry is `(row offset of the target) << 1` for
   * a dense target without a match, else `(target state) << 1 | 1`.
   */
  readonly table: Int32Array;

  /** `patterns`: distinct, non-empty, one byte per char (latin1). */
  constructor(patterns: string[]) {
    let total = 1;
    let longest = 0;
    for (const p of patterns) {
      total += p.length;
      if (p.length > longest) longest = p.length;
    }
    const order = patterns.map((_, i) => i).sort((a, b) => (patterns[a]! < patterns[b]! ? -1 : patterns[a]! > patterns[b]! ? 1 : 0));
    // The trie in creation order: first child / next sibling lists, children in byte order.
    const firstChild = new Int32Array(total);
    const nextSibling = new Int32Array(total);
    const lastChild = new Int32Array(total);
    const byteOf = new Uint8Array(total);
    const termOf = new Int32Array(total).fill(-1);
    const path = new Int32Array(longest + 1);
    let count = 1;
    let prev = '';
    for (const idx of order) {
      const p = patterns[idx]!;
      if (p.length === 0 || p === prev) continue;
      let i = 0;
      const max = Math.min(p.length, prev.length);
      while (i < max && p.charCodeAt(i) === prev.charCodeAt(i)) i++;
      let s = path[i]!;
      for (let j = i; j < p.length; j++) {
        const t = count++;
        byteOf[t] = p.charCodeAt(j);
        if (firstChild[s] === 0) firstChild[s] = t;
        else nextSibling[lastChild[s]!] = t;
        lastChild[s] = t;
        path[j + 1] = t;
        s = t;
      }
      termOf[s] = idx;
      prev = p;
    }
    // Breadth-first renumbering.
    const old = new Int32Array(count);
    this.states = count;
    this.childStart = new Int32Array(count + 1);
    this.label = new Uint8Array(count);
    this.patternAt = new Int32Array(count);
    const depth = new Int32Array(count);
    let tail = 1;
    for (let s = 0; s < count; s++) {
      const o = old[s]!;
      this.childStart[s] = tail;
      for (let c = firstChild[o]!; c !== 0; c = nextSibling[c]!) {
        old[tail] = c;
        this.label[tail] = byteOf[c]!;
        depth[tail] = depth[s]! + 1;
        tail++;
      }
      this.patternAt[s] = termOf[o]!;
    }
    this.childStart[count] = tail;

    // Class 0 is shared by the bytes no pattern holds; when every byte occurs, a class per byte.
    let width = 1;
    const used = new Uint8Array(256);
    for (let s = 1; s < count; s++) used[this.label[s]!] = 1;
    if (used.every((u) => u === 1)) {
      for (let b = 0; b < 256; b++) this.classes[b] = b;
      width = 256;
    } else {
      for (let b = 0; b < 256; b++) if (used[b]) this.classes[b] = width++;
    }
    let shift = 0;
    while (1 << shift < width) shift++;
    this.shift = shift;
    width = 1 << shift;
    this.denseRows = Math.min(count, Math.max(1, DENSE_BUDGET >> shift));
    const dense = new Int32Array(this.denseRows * width);
    this.fail = new Int32Array(count);
    this.matchLength = new Int32Array(count);
    this.holdDepth = new Int32Array(count);
    this.dictLink = new Int32Array(count).fill(-1);
    const { childStart, label, fail, classes } = this;
    const rows = this.denseRows;
    // step() during construction: the rows are plain target states until `table` is made.
    const step = (from: number, b: number): number => {
      let st = from;
      while (st >= rows) {
        for (let c = childStart[st]!, e = childStart[st + 1]!; c < e; c++) if (label[c] === b) return c;
        st = fail[st]!;
      }
      return dense[(st << shift) + classes[b]!]!;
    };
    for (let s = 0; s < count; s++) {
      const first = childStart[s]!;
      const end = childStart[s + 1]!;
      if (s !== 0) {
        const f = fail[s]!;
        this.matchLength[s] = this.patternAt[s]! >= 0 ? depth[s]! : this.matchLength[f]!;
        this.holdDepth[s] = end > first ? depth[s]! : this.holdDepth[f]!;
        this.dictLink[s] = this.patternAt[f]! >= 0 ? f : this.dictLink[f]!;
        if (s < this.denseRows) dense.copyWithin(s * width, f * width, f * width + width);
      }
      if (s < this.denseRows) for (let c = first; c < end; c++) dense[s * width + classes[label[c]!]!] = c;
      for (let c = first; c < end; c++) fail[c] = s === 0 ? 0 : step(fail[s]!, label[c]!);
    }
    this.table = new Int32Array(dense.length);
    for (let i = 0; i < dense.length; i++) {
      const t = dense[i]!;
      this.table[i] = t < rows && this.matchLength[t] === 0 ? (t << shift) << 1 : (t << 1) | 1;
    }
  }

  step(s: number, b: number): number {
    while (s >= this.denseRows) {
      for (let c = this.childStart[s]!, e = this.childStart[s + 1]!; c < e; c++) if (this.label[c] === b) return c;
      s = this.fail[s]!;
    }
    const e = this.table[(s << this.shift) + this.classes[b]!]!;
    return (e & 1) === 0 ? (e >>> 1) >>> this.shift : e >>> 1;
  }
}
