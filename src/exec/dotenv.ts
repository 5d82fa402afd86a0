/**
 * A reader for `.env` files that gives exactly what `require('dotenv').parse(src)` gives
 * (dotenv 18, default parser; `parse(src, { fast: true })` selects another parser with other
 * results), and in addition says where each entry came from and which lines dotenv would
 * have dropped without a word.
 *
 * dotenv's parser is one multi-line regular expression run repeatedly over the whole file,
 * so its behaviour is defined by backtracking, not by lines. This module is a hand-written
 * scanner that reproduces the outcome of that backtracking step by step; the rules below are
 * the ones the regex implies, several of which are surprising:
 *
 *  - Line endings: every CRLF and every lone CR becomes LF before anything else, so a value
 *    can never contain a raw CR (only the two characters `\r` inside double quotes give one).
 *  - An entry may start at any line start, where "line" also ends at U+2028 and U+2029
 *    (the regex's `^` and `$` treat them as line breaks; LF-based line numbers do not).
 *  - Whitespace (JavaScript `\s`, which includes newlines, NBSP and the BOM) is skipped
 *    freely between the parts of an entry, newlines included: `A\n=1`, `export\nA=1`,
 *    `A=\n'x'` and `A:\nB=2` (giving A = "B=2") are all entries.
 *  - Key: `[A-Za-z0-9_.-]+`, optionally after `export` and whitespace. Separator: `=` with
 *    optional whitespace before it, or `:` directly after the key followed by at least one
 *    whitespace character (`A: b` works, `A : b` and `A:b` are ignored).
 *  - Quoted value: after the separator and any whitespace, a quote char Q (' " `) starts a
 *    quoted value. Its closing quote is searched for across lines: the search may pass a Q
 *    only when a backslash precedes it, and stops at the first Q without one. Of those
 *    candidate closers, the furthest one that is followed by only whitespace up to a line
 *    break, end of file or `#` wins. Backslashes are never removed (`"a\"b"` gives `a\"b`).
 *    If no candidate fits, the value is read unquoted.
 *  - Unquoted value: everything up to the first `#`, CR or LF, trimmed. If it still begins
 *    and ends with the same quote char, those two are stripped (`A="a"b"` gives `a"b`); with
 *    U+2028/U+2029 inside, a pair is stripped wherever one opens just after such a break and
 *    closes just before one (`A=a<U+2028>'b'` gives `a<U+2028>b`).
 *  - In a value that (after trimming, before stripping) begins with `"`, each `\n` becomes LF
 *    and then each `\r` becomes CR — also for an unquoted value like `"a\nb` whose quote
 *    was never closed. No other escapes exist.
 *  - Duplicate keys: the last one wins. A key `__proto__` is dropped (dotenv assigns into
 *    a plain object, where that assignment does nothing).
 *
 * Worst case the scanner is quadratic in the file size (an unclosed quote on many lines
 * makes each line search to the end of the file), exactly as dotenv's own regex is.
 */

/** One `KEY=value` entry, in file order; `line` is the 1-based line of the key's first character. */
export interface DotenvEntry {
  key: string;
  value: string;
  line: number;
}

/** A line dotenv skips without reporting it; `text` is the whole line without its line ending. */
export interface DotenvInvalidLine {
  line: number;
  text: string;
}

export interface DotenvLines {
  entries: DotenvEntry[];
  invalid: DotenvInvalidLine[];
}

/**
 * Parses `.env` text exactly as `dotenv.parse(src)` does, including the object's shape
 * (a plain object; a later duplicate key overwrites an earlier one; `__proto__` is dropped).
 * Never throws: text dotenv cannot read is ignored, as dotenv ignores it.
 */
export function parseDotenv(src: string): Record<string, string> {
  return dotenvObject(scan(src));
}

/** The object `parseDotenv` gives, from a scan already made (parseDotenvLines). */
export function dotenvObject(lines: DotenvLines): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { key, value } of lines.entries) out[key] = value;
  return out;
}

/**
 * Parses `.env` text like `parseDotenv` and also locates it.
 *
 * `entries` holds every assignment in file order, duplicates included, so folding it into an
 * object (later wins) gives exactly `parseDotenv(src)`. Line numbers count LF, CRLF and CR as
 * line breaks (what an editor shows); an entry whose key follows a U+2028 on the same line
 * gets that line's number.
 *
 * `invalid` lists, in line order and once each, every line that holds something other than
 * whitespace or a `#` comment and that dotenv skips entirely or in part — the lines a user
 * would expect to mean something. Continuation lines of a multi-line quoted value are part of
 * their entry and never listed. A `__proto__=…` line is listed because dotenv drops it.
 * `text` is the raw line, which may contain secret material: show the line number, not the text,
 * unless the user asked for it.
 */
export function parseDotenvLines(src: string): DotenvLines {
  return scan(src);
}

// ---------------------------------------------------------------------------------------------

const LF = 0x0a;
const HASH = 0x23;
const EQUALS = 0x3d;
const COLON = 0x3a;
const BACKSLASH = 0x5c;
const DQUOTE = 0x22;

const NON_ASCII_SPACE = /\s/;

/**
 * JavaScript's `\s`. Non-ASCII code units are asked of the regex engine itself so the set is
 * by construction the one dotenv's regex uses on this Node version (it tracks Unicode).
 */
function isSpace(c: number): boolean {
  if (c < 0x80) return c === 0x20 || (c >= 0x09 && c <= 0x0d);
  return NON_ASCII_SPACE.test(String.fromCharCode(c));
}

/** The characters at which a multi-line regex's `^`/`$` match and `.` stops. */
function isLineBreak(c: number): boolean {
  return c === LF || c === 0x0d || c === 0x2028 || c === 0x2029;
}

function isKeyChar(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c === 0x2e || c === 0x2d
  );
}

function isQuote(c: number): boolean {
  return c === 0x27 || c === DQUOTE || c === 0x60;
}

interface RawMatch {
  /** where the attempt began (a line start); everything from here to `end` belongs to the entry */
  start: number;
  end: number;
  keyStart: number;
  key: string;
  value: string;
}

class Scanner {
  private readonly t: string;
  private readonly n: number;

  constructor(text: string) {
    this.t = text;
    this.n = text.length;
  }

  skipSpace(i: number): number {
    while (i < this.n && isSpace(this.t.charCodeAt(i))) i++;
    return i;
  }

  /** First position at or after `i` where an entry may begin: the text start or just after a line break. */
  nextLineStart(i: number): number {
    if (i === 0) return 0;
    while (i <= this.n) {
      if (isLineBreak(this.t.charCodeAt(i - 1))) return i;
      i++;
    }
    return -1;
  }

  /**
   * Tries to read an entry beginning at line start `p`. On failure returns the position of the
   * first non-space character after `p`: every later line start up to it would fail the same
   * way, so the caller may skip them (this keeps long runs of blank lines linear).
   */
  matchAt(p: number): RawMatch | number {
    const q = this.skipSpace(p);
    if (q >= this.n) return q;
    // `export` is only a prefix when whitespace follows and a key then parses; otherwise
    // `export` itself may be the key (`export=1`, `export =1`).
    if (this.t.startsWith('export', q) && q + 6 < this.n && isSpace(this.t.charCodeAt(q + 6))) {
      const m = this.fromKey(p, this.skipSpace(q + 7));
      if (m !== null) return m;
    }
    return this.fromKey(p, q) ?? q;
  }

  private fromKey(start: number, keyStart: number): RawMatch | null {
    const t = this.t;
    let k = keyStart;
    while (k < this.n && isKeyChar(t.charCodeAt(k))) k++;
    if (k === keyStart) return null;
    let v: number;
    const afterSpace = this.skipSpace(k);
    if (afterSpace < this.n && t.charCodeAt(afterSpace) === EQUALS) {
      v = afterSpace + 1;
    } else if (t.charCodeAt(k) === COLON && k + 1 < this.n && isSpace(t.charCodeAt(k + 1))) {
      // The colon form demands whitespace after the colon but takes only one character of
      // it as separator; that character may be a newline.
      v = k + 2;
    } else {
      return null;
    }
    // Once key and separator are found the entry always succeeds: some reading of the value
    // (at worst the empty one) is followed by an acceptable end of line.
    const { value, end } = this.value(v);
    return { start, end, keyStart, key: t.slice(keyStart, k), value };
  }

  private value(v: number): { value: string; end: number } {
    const t = this.t;
    const u = this.skipSpace(v);
    const q = t.charCodeAt(u);
    if (u < this.n && isQuote(q)) {
      const closers: number[] = [];
      for (let i = t.indexOf(t[u]!, u + 1); i !== -1; i = t.indexOf(t[u]!, i + 1)) {
        closers.push(i);
        if (t.charCodeAt(i - 1) !== BACKSLASH) break;
      }
      // The regex body is greedy, so the furthest closer is tried first.
      for (let j = closers.length - 1; j >= 0; j--) {
        const c = closers[j]!;
        const end = this.tailEnd(c + 1);
        if (end >= 0) {
          const inner = t.slice(u + 1, c);
          return { value: q === DQUOTE ? expandEscapes(inner) : inner, end };
        }
      }
    }
    let r = v;
    while (r < this.n) {
      const c = t.charCodeAt(r);
      if (c === HASH || c === LF || c === 0x0d) break;
      r++;
    }
    const raw = t.slice(v, r).trim();
    const stripped = stripQuotePairs(raw);
    const value = raw.charCodeAt(0) === DQUOTE ? expandEscapes(stripped) : stripped;
    return { value, end: this.tailEnd(r) };
  }

  /**
   * Where the entry ends if its value ends at `x`: after optional whitespace there must be the
   * end of the text, a `#` comment (which may even sit on a later line: whitespace includes
   * newlines) or a line break. Returns -1 when something else follows on the same line.
   * The end position matters because the next entry is searched for from there.
   */
  tailEnd(x: number): number {
    const y = this.skipSpace(x);
    if (y >= this.n) return this.n;
    if (this.t.charCodeAt(y) === HASH) {
      let e = y;
      while (e < this.n && !isLineBreak(this.t.charCodeAt(e))) e++;
      return e;
    }
    for (let z = y - 1; z >= x; z--) if (isLineBreak(this.t.charCodeAt(z))) return z;
    return -1;
  }
}

/** dotenv's only escapes, applied in this order, each left to right without overlap. */
function expandEscapes(s: string): string {
  if (!s.includes('\\')) return s;
  return s.replaceAll('\\n', '\n').replaceAll('\\r', '\r');
}

/**
 * Removes a pair of equal quote chars around each line of `s`, where lines are split by the
 * regex line breaks and a pair may span several of them (the widest pair wins). For values
 * without U+2028/U+2029 this is simply "strip one matching pair around the whole value".
 */
function stripQuotePairs(s: string): string {
  let out = '';
  let copied = 0;
  let i = 0;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (isQuote(c) && (i === 0 || isLineBreak(s.charCodeAt(i - 1)))) {
      let k = s.length - 1;
      for (; k > i; k--) {
        if (s.charCodeAt(k) === c && (k + 1 === s.length || isLineBreak(s.charCodeAt(k + 1)))) break;
      }
      if (k > i) {
        out += s.slice(copied, i) + s.slice(i + 1, k);
        i = k + 1;
        copied = i;
        continue;
      }
    }
    i++;
  }
  return copied === 0 ? s : out + s.slice(copied);
}

function scan(src: string): DotenvLines {
  const text = src.replace(/\r\n?/g, '\n');
  return locate(text, matchAll(text));
}

/**
 * The entries of `parseDotenvLines(src).entries`, keys and values only, in file order: what a
 * writer reads its own output back with (no line numbers, no skipped lines).
 */
export function dotenvEntries(src: string): Array<{ key: string; value: string }> {
  const out: Array<{ key: string; value: string }> = [];
  for (const { key, value } of matchAll(src.replace(/\r\n?/g, '\n'))) if (!droppedKey(key)) out.push({ key, value });
  return out;
}

/** A key dotenv reads but drops: it assigns into a plain object, where `__proto__` does nothing. */
function droppedKey(key: string): boolean {
  return key === '__proto__';
}

/** Every entry dotenv's regex finds in `text` (line endings already LF), __proto__ included. */
function matchAll(text: string): RawMatch[] {
  const s = new Scanner(text);
  const matches: RawMatch[] = [];
  let pos = 0;
  for (;;) {
    const p = s.nextLineStart(pos);
    if (p === -1 || p >= text.length) break;
    const m = s.matchAt(p);
    if (typeof m === 'number') {
      pos = m + 1;
    } else {
      matches.push(m);
      pos = m.end;
    }
  }
  return matches;
}

function locate(text: string, matches: RawMatch[]): DotenvLines {
  const lineStarts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lineStarts.push(i + 1);
  const lineOf = (pos: number): number => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid]! <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };

  const entries: DotenvEntry[] = [];
  const invalidLines = new Set<number>();
  const reportGap = (from: number, to: number): void => {
    // Gaps between entries consist of whole regex lines; any that is not blank or a
    // comment is something dotenv skipped.
    let i = from;
    while (i < to) {
      let e = i;
      while (e < to && !isLineBreak(text.charCodeAt(e))) e++;
      let f = i;
      while (f < e && isSpace(text.charCodeAt(f))) f++;
      if (f < e && text.charCodeAt(f) !== HASH) invalidLines.add(lineOf(f));
      i = e + 1;
    }
  };

  let covered = 0;
  for (const m of matches) {
    reportGap(covered, m.start);
    covered = m.end;
    if (droppedKey(m.key)) invalidLines.add(lineOf(m.keyStart));
    else entries.push({ key: m.key, value: m.value, line: lineOf(m.keyStart) });
  }
  reportGap(covered, text.length);

  const invalid = [...invalidLines]
    .sort((a, b) => a - b)
    .map((line) => {
      const from = lineStarts[line - 1]!;
      const next = lineStarts[line];
      return { line, text: text.slice(from, next === undefined ? text.length : next - 1) };
    });
  return { entries, invalid };
}
