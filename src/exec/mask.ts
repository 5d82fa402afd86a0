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
  const seen = new Map<string, MaskForm>();
  eachForm(value, (form, text) => {
    if (!seen.has(text)) seen.set(text, form);
  });
  return [...seen].map(([text, form]) => ({ form, text }));
}

/**
 * Calls `found` with each form of `value` (of MIN_MASK_LENGTH bytes or more) in the order of
 * encodedForms, repeats included; MaskPatterns takes them this way, without a Map and an
 * object per form (compiling 10,000 values makes about 170,000 of them).
 */
function eachForm(value: Uint8Array, found: (form: MaskForm, text: string) => void): void {
  const v = Buffer.from(value.buffer, value.byteOffset, value.length);
  const add = (form: MaskForm, text: string): void => {
    if (text.length >= MIN_MASK_LENGTH) found(form, text);
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
  readonly matcher: Matcher | SplitMatcher;
  /**
   * @internal A few patterns also get an Aho–Corasick automaton that is dense throughout
   * (one table read per byte, faster than the Matcher's hashing at every position); many
   * would not fit. Not when the Matcher looks at every 4th position or sparser.
   */
  readonly automaton: Automaton | undefined;
  /** the number of distinct patterns */
  readonly size: number;

  /**
   * `encodings: false` masks the raw values only. `engine` (for tests) forces one matcher:
   * by default the automaton is used when it is dense throughout.
   */
  constructor(values: Uint8Array[], options: { encodings?: boolean; engine?: 'automaton' | 'hash' } = {}) {
    const patterns = new Set<string>();
    const add = (_form: MaskForm, text: string): void => void patterns.add(text);
    for (const value of values) {
      if (value.length < MIN_MASK_LENGTH) continue;
      if (options.encodings === false) patterns.add(Buffer.from(value.buffer, value.byteOffset, value.length).toString('latin1'));
      else eachForm(value, add);
    }
    this.size = patterns.size;
    const list = [...patterns];
    this.matcher = matcherFor(list);
    let total = 0;
    for (const p of list) total += p.length;
    let automaton: Automaton | undefined;
    // The Matcher looking at every 4th position or sparser beats one table read per byte.
    if (options.engine === 'automaton' || (options.engine === undefined && total < SMALL_PATTERNS && this.matcher.stride < 4)) {
      automaton = new Automaton(list);
      if (options.engine === undefined && automaton.states > automaton.denseRows) automaton = undefined;
    }
    this.automaton = automaton;
  }
}

/**
 * Incremental masking of a byte stream, with the same result as masking the whole stream at
 * once (read as latin1), however the stream is cut into chunks.
 *
 * `write` returns at once every byte whose fate is decided; it keeps back only the longest
 * suffix that is still a proper prefix of some pattern (the shortest tail that could become
 * part of a match, or make one longer) — never more than the longest pattern's length − 1.
 * `end` releases the rest. Positions are looked at through a hash of the bytes there (see
 * Matcher), so the cost per byte does not grow with the number of values; only the held
 * tail is looked at again with the next chunk.
 */
export class Masker {
  private readonly matcher: Matcher | SplitMatcher;
  private readonly ac: Automaton | undefined;
  /** the automaton's state after the input so far */
  private state = 0;
  /** stream offset of held[0]; everything before it has been returned */
  private emitted = 0;
  private held: Buffer = Buffer.alloc(0);
  /**
   * Groups of overlapping occurrences not yet fully returned, oldest first; disjoint and so
   * ordered by both start and end. Only the oldest can already have had its mask returned.
   */
  private groups: Group[] = [];
  private ended = false;
  /** (index in data, pattern) of the matches found by the last look */
  private readonly hits: number[] = [];

  /** `values`: the raw values (their encoded forms are masked too), or compiled patterns. */
  constructor(values: Uint8Array[] | MaskPatterns) {
    const patterns = values instanceof MaskPatterns ? values : new MaskPatterns(values);
    this.matcher = patterns.matcher;
    this.ac = patterns.automaton;
  }

  /** Feeds a chunk; returns the output now decided (possibly empty). */
  write(chunk: Uint8Array): Buffer {
    return joined(this.writeParts(chunk));
  }

  /**
   * `write`, with the output as the pieces it is made of (in order), so that a large chunk
   * is passed on without being copied: the pieces share memory with `chunk`.
   */
  writeParts(chunk: Uint8Array): Uint8Array[] {
    if (this.ended) throw new Error('Masker: write after end');
    if (chunk.length === 0) return [];
    const c = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    const held = this.held;
    const hits = this.hits;
    hits.length = 0;
    const ac = this.ac;
    if (ac !== undefined) {
      // The automaton reports each match where it ends; it keeps back what its state says.
      // The held bytes and the chunk are released as they are, without joining them.
      const base = this.emitted + held.length;
      this.state = scan(ac, c, this.state, hits);
      for (let h = 0; h < hits.length; h += 2) this.addOccurrence(base + hits[h]! + 1 - ac.matchLength[hits[h + 1]!]!, base + hits[h]! + 1);
      return this.release(held, c, base + c.length - ac.holdDepth[this.state]!);
    }
    if (held.length === 0 || c.length <= this.matcher.longest + MIN_MASK_LENGTH) {
      const data = held.length === 0 ? c : Buffer.concat([held, c]);
      return this.found(this.matcher.match(data, false, false, hits), data, EMPTY_BUFFER);
    }
    // The held bytes are looked at with the start of the chunk (enough to decide every
    // position in them), then the chunk on its own: nothing large is copied.
    const window = Buffer.concat([held, c.subarray(0, this.matcher.longest)]);
    this.matcher.match(window, false, false, hits);
    let keep = 0;
    while (keep < hits.length && hits[keep]! < held.length) keep += 2;
    hits.length = keep;
    const undecided = this.matcher.match(c, false, false, hits);
    for (let h = keep; h < hits.length; h += 2) hits[h] = hits[h]! + held.length;
    return this.found(held.length + undecided, held, c);
  }

  /** Returns everything still held; the Masker accepts no more input. */
  end(): Buffer {
    if (this.ended) return Buffer.alloc(0);
    this.ended = true;
    if (this.ac !== undefined) return joined(this.release(this.held, EMPTY_BUFFER, this.emitted + this.held.length));
    const hits = this.hits;
    hits.length = 0;
    return joined(this.found(this.matcher.match(this.held, true, false, hits), this.held, EMPTY_BUFFER));
  }

  /**
   * Records the occurrences in `hits` ((index, pattern) pairs, indexes counted from
   * `emitted`) and releases the bytes before index `undecided`. `a` then `b` hold the bytes
   * from `emitted` on, up to the end of the input so far.
   */
  private found(undecided: number, a: Buffer, b: Buffer): Uint8Array[] {
    const hits = this.hits;
    const base = this.emitted;
    const length = this.matcher.length;
    for (let h = 0; h < hits.length; h += 2) this.addOccurrence(base + hits[h]!, base + hits[h]! + length[hits[h + 1]!]!);
    return this.release(a, b, base + undecided);
  }

  private addOccurrence(start: number, end: number): void {
    // The Matcher reports occurrences in order of start, the automaton in order of end; in
    // both, an occurrence overlaps exactly the newest groups that end after its start.
    const g = this.groups;
    let announced = false;
    while (g.length > 0 && g[g.length - 1]!.end > start) {
      const last = g.pop()!;
      if (last.start < start) start = last.start;
      if (last.end > end) end = last.end;
      announced ||= last.announced;
    }
    g.push({ start, end, announced });
  }

  /**
   * Returns output for stream offsets [emitted, upTo) — no later occurrence can start before
   * `upTo` — and keeps the bytes from `upTo` on. `a` then `b` hold the bytes from `emitted`.
   */
  private release(a: Buffer, b: Buffer, upTo: number): Uint8Array[] {
    const base = this.emitted;
    const out: Uint8Array[] = [];
    const piece = (from: number, to: number): void => {
      const split = base + a.length;
      if (from < split) out.push(a.subarray(from - base, Math.min(to, split) - base));
      if (to > split) out.push(b.subarray(Math.max(from, split) - split, to - split));
    };
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
        piece(at, stop);
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
    const end = base + a.length + b.length;
    const tail: Uint8Array[] = [];
    const saved = out.length;
    piece(upTo, end);
    tail.push(...out.splice(saved));
    this.held = tail.length === 1 ? Buffer.from(tail[0]!) : Buffer.concat(tail);
    this.emitted = upTo;
    return out;
  }
}

/** One Buffer of the pieces; a single piece is returned as it is (it may share memory). */
function joined(pieces: Uint8Array[]): Buffer {
  if (pieces.length === 0) return Buffer.alloc(0);
  return pieces.length === 1 ? Buffer.from(pieces[0]!.buffer, pieces[0]!.byteOffset, pieces[0]!.length) : Buffer.concat(pieces);
}

const EMPTY_BUFFER = Buffer.alloc(0);

/** Patterns of fewer bytes than this in all may get a dense automaton (MaskPatterns). */
const SMALL_PATTERNS = 1 << 15;

// ---------------------------------------------------------------------------------------------

/** Chunks of at least this many bytes are scanned in two lanes (scanTwoLanes). */
const TWO_LANES = 4096;

/** Lane B's hits, before they are appended to lane A's. */
const laneHits: number[] = [];

/**
 * Runs `chunk` through the automaton from `state`; pushes (index in chunk, state) at each
 * byte where a pattern ends (`matchLength[state]` is the longest; `patternAt` and `dictLink`
 * give them all); returns the state after the chunk.
 * This loop is the whole cost of masking and scanning. In a dense state the state is carried
 * as its row offset; an entry's low bit flags a target that needs a look (a match ends there,
 * or it has no dense row).
 */
export function scan(ac: Automaton, chunk: Uint8Array, state: number, hits: number[]): number {
  if (ac.denseRows === ac.states && chunk.length >= TWO_LANES && chunk.length >>> 1 >= ac.longest) return scanTwoLanes(ac, chunk, state, hits);
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

/**
 * `scan` for an automaton that is dense throughout, over a chunk of at least 2 × `longest`
 * bytes, as two interleaved passes: one over the first half from `state`, one over the second
 * half from the root. A step costs one table read whose address depends on the step before, so
 * a single pass waits on memory at every byte; two independent chains keep the processor busy
 * (about 1.7× the bytes per second here). The state after a byte is the longest suffix of
 * the text so far that is a prefix of a pattern, so it depends on the last `longest` bytes
 * only: lane B, started at the root `longest` - 1 bytes before the middle, is in exactly the
 * state a single pass would be in from the middle byte on. Its hits before the middle are
 * lane A's and are dropped; lane A's hits come first, so `hits` is in order of index as with
 * one pass. In a dense-throughout table an entry's low bit means a pattern ends at its target.
 */
function scanTwoLanes(ac: Automaton, chunk: Uint8Array, state: number, hits: number[]): number {
  const { table, shift, classes } = ac;
  const n = chunk.length;
  const mid = n >>> 1;
  const later = laneHits;
  later.length = 0;
  let a = state << shift;
  let b = 0;
  let j = mid + 1 - ac.longest;
  for (let i = 0; i < mid; i++, j++) {
    const ea = table[a + classes[chunk[i]!]!]!;
    const eb = table[b + classes[chunk[j]!]!]!;
    a = ea >>> 1;
    b = eb >>> 1;
    if (((ea | eb) & 1) !== 0) {
      if ((ea & 1) !== 0) {
        hits.push(i, a);
        a <<= shift;
      }
      if ((eb & 1) !== 0) {
        if (j >= mid) later.push(j, b);
        b <<= shift;
      }
    }
  }
  for (; j < n; j++) {
    const eb = table[b + classes[chunk[j]!]!]!;
    b = eb >>> 1;
    if ((eb & 1) !== 0) {
      later.push(j, b);
      b <<= shift;
    }
  }
  for (let h = 0; h < later.length; h++) hits.push(later[h]!);
  return b >>> shift;
}

/**
 * The patterns, indexed by their first 4 bytes (every pattern has at least MIN_MASK_LENGTH
 * = 4), looked up from rolling words of the input, so a byte costs a few multiplies and bit
 * tests whatever the number of patterns.
 *
 * When every pattern is at least window + 1 bytes long (9; 5 for the short patterns of a
 * SplitMatcher, looked up by 4-byte windows), only every `stride`-th position is looked at
 * (see `stride` and `matchSampled`); what follows describes the look at every position.
 *
 * - `filter` is a blocked Bloom filter (two bits per pattern, both in one 32-bit word;
 *   one or two patterns per word, so one memory access per byte) over a hash of a pattern's first 8 bytes; `shortFilter` a bitmap over the
 *   first 4 bytes of the rare patterns shorter than 8. A position goes further only when its
 *   next 8 bytes hit both bits in the first, or its next 4 a bit in the second. (A 4-byte
 *   prefix of many patterns — hex digits, `sk_l` — is common in output; an 8-byte one is not.)
 * - A position that passes probes `slots`, an open-addressing table (load ≤ 1/2) of the
 *   distinct keys; a key's patterns (`ids[groupStart[g]]` to `ids[groupStart[g + 1]]`) are
 *   sorted longest first and compared byte by byte from the fifth byte.
 * - `prefix1..3` hold the first 1, 2 and 3 bytes of the patterns, for the last positions of
 *   a chunk, where fewer than 4 bytes are known yet.
 *
 * Compiling is linear in the total size of the patterns.
 */
export class Matcher {
  /** the number of patterns */
  readonly count: number;
  /** the longest pattern's length */
  readonly longest: number;
  /** every pattern's bytes, back to back: pattern i is bytes[start[i]] to bytes[start[i] + length[i]] */
  readonly bytes: Buffer;
  readonly start: Int32Array;
  readonly length: Int32Array;
  private readonly filter: Int32Array;
  private readonly filterShift: number;
  private readonly shortFilter: Int32Array;
  private readonly shortShift: number;
  private readonly slots: Int32Array;
  private readonly slotShift: number;
  private readonly keyOf: Int32Array;
  private readonly groupStart: Int32Array;
  private readonly ids: Int32Array;
  private readonly prefix1 = new Uint8Array(256);
  private readonly prefix2 = new Uint8Array(65536);
  private readonly prefix3: Set<number> = new Set();
  /**
   * 1, or the step between the positions looked at (every pattern is at least stride +
   * window - 1 bytes long). Then `filter` holds each pattern's first `stride` windows, and a
   * window's hash leads to its bucket, `entries[bucketStart[b]]` to `entries[bucketStart[b + 1]]`,
   * each `pattern × MAX_STRIDE + offset of the window in it`.
   */
  readonly stride: number;
  /** 8, or 4 for the few short patterns of a SplitMatcher */
  readonly window: 4 | 8;
  private readonly bucketShift: number;
  private readonly bucketStart: Int32Array;
  private readonly entries: Int32Array;
  /** (start, pattern) pairs found at one sampled position; ~pattern when it is pending */
  private readonly sampled: number[] = [];

  /** `patterns`: distinct, at least MIN_MASK_LENGTH chars, one byte per char (latin1). */
  constructor(patterns: string[], window: 4 | 8 = 8) {
    this.count = patterns.length;
    let total = 0;
    let longest = 0;
    let shortest = Infinity;
    for (const p of patterns) {
      if (p.length < MIN_MASK_LENGTH) throw new Error('Matcher: a pattern is shorter than MIN_MASK_LENGTH');
      total += p.length;
      if (p.length > longest) longest = p.length;
      if (p.length < shortest) shortest = p.length;
    }
    this.longest = longest;
    // Every occurrence of a pattern of L >= 8 bytes holds the 8-byte window at each of its
    // first L - 7 positions, so it holds one at a position that is a multiple of L - 7 (or of
    // any smaller number). Looking only there is enough when every pattern is that long.
    this.window = window;
    this.stride = shortest >= window + 1 && shortest !== Infinity ? Math.min(MAX_STRIDE, shortest - window + 1) : 1;
    this.bytes = Buffer.from(patterns.join(''), 'latin1');
    this.start = new Int32Array(patterns.length);
    this.length = new Int32Array(patterns.length);
    // The distinct keys into `slots` (group numbers from 1), counting each key's patterns.
    let slotBits = 4;
    while (1 << slotBits < patterns.length * 2) slotBits++;
    this.slotShift = 32 - slotBits;
    this.slots = new Int32Array(1 << slotBits);
    const mask = (1 << slotBits) - 1;
    const keys = new Int32Array(patterns.length);
    const groupOf = new Int32Array(patterns.length);
    const sizes = new Int32Array(patterns.length + 1);
    let groups = 0;
    let at = 0;
    for (let i = 0; i < patterns.length; i++) {
      const p = patterns[i]!;
      this.start[i] = at;
      this.length[i] = p.length;
      at += p.length;
      const b0 = p.charCodeAt(0);
      const b1 = p.charCodeAt(1);
      const b2 = p.charCodeAt(2);
      this.prefix1[b0] = 1;
      this.prefix2[b0 | (b1 << 8)] = 1;
      this.prefix3.add(b0 | (b1 << 8) | (b2 << 16));
      const key = b0 | (b1 << 8) | (b2 << 16) | (p.charCodeAt(3) << 24);
      let s = Math.imul(key, HASH) >>> this.slotShift;
      let g = this.slots[s]!;
      while (g !== 0 && keys[g - 1] !== key) {
        s = (s + 1) & mask;
        g = this.slots[s]!;
      }
      if (g === 0) {
        g = ++groups;
        this.slots[s] = g;
        keys[g - 1] = key;
      }
      groupOf[i] = g - 1;
      sizes[g - 1]!++;
    }
    this.keyOf = keys.slice(0, groups);
    this.groupStart = new Int32Array(groups + 1);
    for (let g = 0; g < groups; g++) this.groupStart[g + 1] = this.groupStart[g]! + sizes[g]!;
    this.ids = new Int32Array(patterns.length);
    const fill = this.groupStart.slice(0, groups);
    for (let i = 0; i < patterns.length; i++) this.ids[fill[groupOf[i]!]!++] = i;
    // Longest first within a key.
    const byLength = (x: number, y: number): number => this.length[y]! - this.length[x]!;
    for (let g = 0; g < groups; g++) {
      const from = this.groupStart[g]!;
      const to = this.groupStart[g + 1]!;
      if (to - from > 1) this.ids.subarray(from, to).sort(byLength);
    }
    if (this.stride > 1) {
      // The sampled index: each pattern under each of its first `stride` windows (a 4-byte
      // window hashes as an 8-byte one whose last 4 bytes are 0).
      const entries = patterns.length * this.stride;
      const filterBits = Math.min(30, Math.max(7, 32 - Math.clz32(entries) - 1));
      const bucketBits = Math.min(30, Math.max(4, 32 - Math.clz32(entries)));
      this.filterShift = 32 - filterBits;
      this.bucketShift = 32 - bucketBits;
      this.filter = new Int32Array(1 << filterBits);
      this.shortFilter = new Int32Array(0);
      this.shortShift = 0;
      const stride = this.stride;
      const filter = this.filter;
      const filterShift = this.filterShift;
      const bucketShift = this.bucketShift;
      const hashes = new Int32Array(entries);
      const bucketStart = new Int32Array((1 << bucketBits) + 1);
      const bytes = this.bytes;
      for (let i = 0, e = 0; i < patterns.length; i++) {
        // The first window, then each next one a byte further on.
        let o = this.start[i]!;
        let w = bytes[o]! | (bytes[o + 1]! << 8) | (bytes[o + 2]! << 16) | (bytes[o + 3]! << 24);
        let v = window === 8 ? bytes[o + 4]! | (bytes[o + 5]! << 8) | (bytes[o + 6]! << 16) | (bytes[o + 7]! << 24) : 0;
        for (let j = 0; ; j++, e++) {
          const h = Math.imul(w ^ Math.imul(v, HASH2), HASH);
          filter[h >>> filterShift] = filter[h >>> filterShift]! | (1 << (h & 31)) | (1 << ((h >>> 5) & 31));
          hashes[e] = h;
          bucketStart[(h >>> bucketShift) + 1]!++;
          if (j + 1 === stride) {
            e++;
            break;
          }
          if (window === 8) {
            w = (w >>> 8) | (v << 24);
            v = (v >>> 8) | (bytes[o + 8]! << 24);
          } else w = (w >>> 8) | (bytes[o + 4]! << 24);
          o++;
        }
      }
      for (let b = 0; b < 1 << bucketBits; b++) bucketStart[b + 1] = bucketStart[b + 1]! + bucketStart[b]!;
      const list = new Int32Array(entries);
      const fill = bucketStart.slice(0, 1 << bucketBits);
      for (let i = 0, e = 0; i < patterns.length; i++) for (let j = 0; j < stride; j++, e++) list[fill[hashes[e]! >>> bucketShift]!++] = i * MAX_STRIDE + j;
      this.bucketStart = bucketStart;
      this.entries = list;
    } else {
      // Patterns of 8 bytes or more (nearly all) go into the filter by their first 8 bytes,
      // shorter ones by their first 4: a 4-byte prefix of many patterns (hex digits, `sk_l`)
      // is common in output, an 8-byte one is not.
      let long = 0;
      for (let i = 0; i < patterns.length; i++) if (this.length[i]! >= 8) long++;
      // Blocked: both bits of a pattern are in one 32-bit word (one memory access per byte);
      // one to two patterns per word, which lets about 1% of positions through. The filter is
      // read at a random place for every byte, so its size matters more than that: for 10,000
      // values (~107,000 patterns) it is 256 KiB and stays in the L2 cache, where one pattern
      // per word (1 MiB) ran 1.3-1.6x slower.
      const filterBits = Math.min(30, Math.max(7, 32 - Math.clz32(long) - 1));
      const shortBits = Math.min(30, Math.max(12, 32 - Math.clz32(patterns.length - long) + 4));
      this.filterShift = 32 - filterBits;
      this.shortShift = 32 - shortBits;
      this.filter = new Int32Array(1 << filterBits);
      this.shortFilter = new Int32Array(1 << (shortBits - 5));
      const set = (bits: Int32Array, f: number): void => {
        bits[f >>> 5] = bits[f >>> 5]! | (1 << (f & 31));
      };
      for (let i = 0; i < patterns.length; i++) {
        const o = this.start[i]!;
        const w = this.bytes.readInt32LE(o);
        if (this.length[i]! >= 8) {
          const h = Math.imul(w ^ Math.imul(this.bytes.readInt32LE(o + 4), HASH2), HASH);
          this.filter[h >>> this.filterShift] = this.filter[h >>> this.filterShift]! | (1 << (h & 31)) | (1 << ((h >>> 5) & 31));
        } else set(this.shortFilter, Math.imul(w, HASH) >>> this.shortShift);
      }
      this.bucketShift = 0;
      this.bucketStart = new Int32Array(0);
      this.entries = new Int32Array(0);
    }
    // One look at a pattern followed by the start of one, so the rare paths (a hit, a held
    // tail) have been taken once before the first real chunk: the optimised scanning loop
    // then does not fall back to the interpreter the first time it meets them.
    if (patterns.length > 0) {
      const first = Buffer.from(this.bytes.buffer, this.bytes.byteOffset, this.length[0]!);
      this.match(Buffer.concat([first, first, first.subarray(0, 3)]), false, false, []);
    }
  }

  /**
   * Looks at each start position of `data` in order. At a position where patterns occur,
   * pushes (position, pattern) for the longest (or, with `all`, for each of them, longest
   * first) onto `hits`. Returns the first position that cannot be decided yet: where the
   * rest of `data` is a proper prefix of a pattern (so more input could make it an
   * occurrence, or a longer one) — or data.length. Occurrences found at that position (a
   * shorter pattern already complete) are pushed too; they will be found again when the
   * caller scans from there with more data. With `final` (no more input), nothing is pending.
   */
  match(data: Uint8Array, final: boolean, all: boolean, hits: number[]): number {
    if (this.stride > 1) return this.matchSampled(data, final, all, hits);
    const n = data.length;
    let p = 0;
    if (n >= 8) {
      // The hot loop: two rolling words (the next 8 bytes), two multiplies and two bit tests
      // per byte. Everything rarer lives in other functions, so that a first hit or a first
      // tail does not throw away the optimised code of this loop.
      const { filter, filterShift, shortFilter, shortShift } = this;
      let w = (data[0]! << 8) | (data[1]! << 16) | (data[2]! << 24);
      let v = data[3]! | (data[4]! << 8) | (data[5]! << 16) | (data[6]! << 24);
      for (const last = n - 8; p <= last; p++) {
        w = (w >>> 8) | (v << 24);
        v = (v >>> 8) | (data[p + 7]! << 24);
        const h = Math.imul(w ^ Math.imul(v, HASH2), HASH);
        const bits = (1 << (h & 31)) | (1 << ((h >>> 5) & 31));
        const s = Math.imul(w, HASH) >>> shortShift;
        if (((filter[h >>> filterShift]! & bits) === bits || ((shortFilter[s >>> 5]! >>> (s & 31)) & 1) !== 0) && this.candidates(data, p, w, final, all, hits)) return p;
      }
    }
    // The last positions with 4 to 7 bytes left: looked up directly.
    for (; p + 4 <= n; p++) if (this.candidates(data, p, data[p]! | (data[p + 1]! << 8) | (data[p + 2]! << 16) | (data[p + 3]! << 24), final, all, hits)) return p;
    return final ? n : this.tail(data);
  }

  /**
   * `match` when every pattern is at least stride + window - 1 bytes long: the window is
   * looked at only at every stride-th position. An occurrence starting at s holds the window
   * at the one such position from s to s + stride - 1, so a look there finds it, and the
   * starts a look finds lie after those of the look before: hits stay in order of start.
   * Starts after the last position with a whole window to look at are looked up one by one.
   */
  private matchSampled(data: Uint8Array, final: boolean, all: boolean, hits: number[]): number {
    const n = data.length;
    const k = this.stride;
    let p = 0;
    const { filter, filterShift } = this;
    if (this.window === 4) {
      for (const last = n - 4; p <= last; p += k) {
        const h = Math.imul(data[p]! | (data[p + 1]! << 8) | (data[p + 2]! << 16) | (data[p + 3]! << 24), HASH);
        const bits = (1 << (h & 31)) | (1 << ((h >>> 5) & 31));
        if ((filter[h >>> filterShift]! & bits) === bits) {
          const undecided = this.sampleAt(data, p, h, final, all, hits);
          if (undecided !== -1) return undecided;
        }
      }
    } else if (n >= 8) {
      for (const last = n - 8; p <= last; p += k) {
        const w = data[p]! | (data[p + 1]! << 8) | (data[p + 2]! << 16) | (data[p + 3]! << 24);
        const v = data[p + 4]! | (data[p + 5]! << 8) | (data[p + 6]! << 16) | (data[p + 7]! << 24);
        const h = Math.imul(w ^ Math.imul(v, HASH2), HASH);
        const bits = (1 << (h & 31)) | (1 << ((h >>> 5) & 31));
        if ((filter[h >>> filterShift]! & bits) === bits) {
          const undecided = this.sampleAt(data, p, h, final, all, hits);
          if (undecided !== -1) return undecided;
        }
      }
    }
    // Every start up to the last look (p - k) is decided; the rest have under window + k bytes.
    for (p = p < k ? 0 : p - k + 1; p + 4 <= n; p++) if (this.candidates(data, p, data[p]! | (data[p + 1]! << 8) | (data[p + 2]! << 16) | (data[p + 3]! << 24), final, all, hits)) return p;
    return final ? n : this.tail(data);
  }

  /**
   * The patterns whose window at some offset j < stride hashes to `h`, compared at p - j;
   * pushes the hits in order of start (longest first at a start), as `candidates` does.
   * Returns the first undecided start, or -1.
   */
  private sampleAt(data: Uint8Array, p: number, h: number, final: boolean, all: boolean, hits: number[]): number {
    const { entries, bucketStart, bytes, start, length } = this;
    const b = h >>> this.bucketShift;
    const found = this.sampled;
    found.length = 0;
    const n = data.length;
    for (let e = bucketStart[b]!, end = bucketStart[b + 1]!; e < end; e++) {
      const x = entries[e]!;
      const id = (x / MAX_STRIDE) | 0;
      const s = p - (x - id * MAX_STRIDE);
      if (s < 0) continue;
      const len = length[id]!;
      const avail = n - s;
      const stop = s + (len < avail ? len : avail);
      const o = start[id]! - s;
      let q = s;
      while (q < stop && data[q] === bytes[o + q]) q++;
      if (q < stop) continue;
      if (len <= avail) found.push(s, id);
      else if (!final) found.push(s, ~id);
    }
    if (found.length === 0) return -1;
    // In order of start, longest first at a start (a pending pattern is longer than any
    // complete one at its start). Nearly always a single pair.
    for (let i = 2; i < found.length; i += 2) {
      const s = found[i]!;
      const id = found[i + 1]!;
      const len = length[id < 0 ? ~id : id]!;
      let j = i;
      while (j > 0 && (found[j - 2]! > s || (found[j - 2]! === s && length[found[j - 1]! < 0 ? ~found[j - 1]! : found[j - 1]!]! < len))) {
        found[j] = found[j - 2]!;
        found[j + 1] = found[j - 1]!;
        j -= 2;
      }
      found[j] = s;
      found[j + 1] = id;
    }
    for (let i = 0; i < found.length; ) {
      const s = found[i]!;
      let pending = false;
      let pushed = false;
      for (; i < found.length && found[i] === s; i += 2) {
        const id = found[i + 1]!;
        if (id < 0) pending = true;
        else if (!pushed || all) {
          hits.push(s, id);
          pushed = true;
        }
      }
      if (pending) return s;
    }
    return -1;
  }

  /** Compares the patterns whose first 4 bytes are `w` at `p`; true when `p` is undecided. */
  private candidates(data: Uint8Array, p: number, w: number, final: boolean, all: boolean, hits: number[]): boolean {
    const { slots, keyOf, groupStart, ids, bytes, start, length } = this;
    const mask = slots.length - 1;
    let s = Math.imul(w, HASH) >>> this.slotShift;
    let g = slots[s]!;
    while (g !== 0 && keyOf[g - 1] !== w) {
      s = (s + 1) & mask;
      g = slots[s]!;
    }
    if (g === 0) return false;
    const avail = data.length - p;
    let pending = false;
    for (let c = groupStart[g - 1]!, e = groupStart[g]!; c < e; c++) {
      const id = ids[c]!;
      const len = length[id]!;
      const o = start[id]! - p;
      const stop = p + (len < avail ? len : avail);
      let j = p + 4;
      while (j < stop && data[j] === bytes[o + j]) j++;
      if (j < stop) continue;
      if (len <= avail) {
        hits.push(p, id);
        if (!all) break;
      } else if (!final) pending = true;
    }
    return pending;
  }

  /** The first of the last 3 positions where the rest of `data` begins a pattern, or data.length. */
  private tail(data: Uint8Array): number {
    const n = data.length;
    for (let p = n < 3 ? 0 : n - 3; p < n; p++) {
      const k = n - p;
      const b0 = data[p]!;
      if (k === 1) {
        if (this.prefix1[b0] === 1) return p;
      } else if (k === 2) {
        if (this.prefix2[b0 | (data[p + 1]! << 8)] === 1) return p;
      } else if (this.prefix3.has(b0 | (data[p + 1]! << 8) | (data[p + 2]! << 16))) return p;
    }
    return n;
  }
}

/**
 * The Matcher for `patterns`. A single Matcher can step only by what its shortest pattern
 * allows; so when all but a few patterns are long enough to be looked for at every 4th
 * position or sparser, those few (a short value's forms) get a Matcher of their own, over
 * 4-byte windows, and the two run side by side (SplitMatcher). Used by MaskPatterns and by
 * `vault scan` (src/scan/scan.ts).
 */
export function matcherFor(patterns: string[]): Matcher | SplitMatcher {
  const few = Math.max(16, patterns.length >> 6);
  // atMost[n]: the number of patterns of at most n bytes.
  const atMost = new Int32Array(MAX_STRIDE + 7);
  for (const p of patterns) if (p.length < atMost.length) atMost[p.length]!++;
  for (let n = 1; n < atMost.length; n++) atMost[n] = atMost[n]! + atMost[n - 1]!;
  for (let stride = MAX_STRIDE; stride >= 4; stride--) {
    const short = atMost[stride + 6]!;
    // None short: one Matcher steps by 8 or by what its shortest allows. All short: nothing to set apart.
    if (short === 0 || short === patterns.length) break;
    if (short <= few) {
      const long: string[] = [];
      const rest: string[] = [];
      for (const p of patterns) (p.length < stride + 7 ? rest : long).push(p);
      return new SplitMatcher(long, rest);
    }
  }
  return new Matcher(patterns);
}

/**
 * Two Matchers over one set of patterns with the interface of one: the long patterns, over
 * 8-byte windows, and the few short ones, over 4-byte windows. Pattern ids number the long
 * patterns first, then the short ones; hits come merged in order of start, the longest first
 * at a start (a long pattern is longer than any short one); the undecided position is the
 * earlier of the two.
 */
export class SplitMatcher {
  readonly count: number;
  readonly longest: number;
  readonly length: Int32Array;
  /** the smaller step of the two */
  readonly stride: number;
  /** @internal */
  readonly long: Matcher;
  /** @internal */
  readonly short: Matcher;
  private readonly longHits: number[] = [];
  private readonly shortHits: number[] = [];

  constructor(long: string[], short: string[]) {
    this.long = new Matcher(long);
    this.short = new Matcher(short, 4);
    this.count = long.length + short.length;
    this.longest = Math.max(this.long.longest, this.short.longest);
    this.length = new Int32Array(this.count);
    this.length.set(this.long.length);
    this.length.set(this.short.length, long.length);
    this.stride = Math.min(this.long.stride, this.short.stride);
  }

  /** Matcher.match over both sets of patterns. */
  match(data: Uint8Array, final: boolean, all: boolean, hits: number[]): number {
    const a = this.longHits;
    const b = this.shortHits;
    a.length = 0;
    b.length = 0;
    const undecided = Math.min(this.long.match(data, final, all, a), this.short.match(data, final, all, b));
    // Hits after the undecided position are dropped: the caller looks there again. Those at
    // it are kept, as Matcher.match keeps them (a complete shorter pattern is masked early).
    const offset = this.long.count;
    let i = 0;
    let j = 0;
    while (i < a.length || j < b.length) {
      const s = j >= b.length || (i < a.length && a[i]! <= b[j]!) ? a[i]! : b[j]!;
      if (s > undecided) break;
      let pushed = false;
      for (; i < a.length && a[i] === s; i += 2) {
        hits.push(s, a[i + 1]!);
        pushed = true;
      }
      for (; j < b.length && b[j] === s; j += 2) {
        if (all || !pushed) hits.push(s, b[j + 1]! + offset);
        pushed = true;
      }
    }
    return undecided;
  }
}

/** Fibonacci hashing: the top bits of key × 2^32/φ. */
const HASH = 0x9e3779b1 | 0;
const HASH2 = 0x85ebca6b | 0;

/** The largest step between the positions the Matcher looks at (see Matcher.stride). */
const MAX_STRIDE = 8;

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
  /** the longest pattern's length: the deepest state */
  readonly longest: number;
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
    this.longest = longest;
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
