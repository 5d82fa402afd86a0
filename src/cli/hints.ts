import type { Command } from 'commander';

/**
 * Hints for usage errors, from the real command and flag lists of the program being run (a
 * suggestion names only something that exists). Words people bring from other tools map to
 * the command that does that job: `set` suggests `put`, never the look-alike `get`.
 */

const SYNONYMS: Readonly<Record<string, string>> = {
  set: 'put',
  add: 'put',
  insert: 'put',
  store: 'put',
  write: 'put',
  create: 'put',
  show: 'get',
  read: 'get',
  cat: 'get',
  print: 'get',
  delete: 'rm',
  del: 'rm',
  remove: 'rm',
  run: 'exec',
  versions: 'history',
  log: 'audit',
  restore: 'rollback',
  revert: 'rollback',
  info: 'status',
  generate: 'rotate',
  dotenv: 'env',
  template: 'inject',
  login: 'unlock',
  logout: 'lock',
  rename: 'mv',
};

/** Optimal string alignment distance (Damerau-Levenshtein without repeated edits). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = [];
  for (let i = 0; i <= a.length; i++) d[i] = [i];
  for (let j = 0; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidates closest to `word`: one edit for short words, two for longer ones; ties all
 * returned. Exact case-insensitive matches come first and alone.
 */
export function closest(word: string, candidates: readonly string[]): string[] {
  const lower = word.toLowerCase();
  const exact = candidates.filter((c) => c.toLowerCase() === lower && c !== word);
  if (exact.length > 0) return exact;
  const limit = word.length <= 4 ? 1 : 2;
  let best = Infinity;
  let found: string[] = [];
  for (const c of new Set(candidates)) {
    if (c === word) continue;
    const d = editDistance(lower, c.toLowerCase());
    if (d > limit) continue;
    if (d < best) {
      best = d;
      found = [c];
    } else if (d === best) found.push(c);
  }
  return found;
}

/** The command words (names and aliases) of the program, hidden ones left out. */
export function commandWords(program: Command): string[] {
  return program.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden && !c.name().startsWith('__')).flatMap((c) => [c.name(), ...c.aliases()]);
}

/** A suggestion for an unknown command word, or undefined. */
export function suggestCommand(word: string, program: Command): string | undefined {
  const words = commandWords(program);
  const synonym = SYNONYMS[word.toLowerCase()];
  if (synonym !== undefined && words.includes(synonym)) return synonym;
  const near = closest(word, words);
  return near.length > 0 ? near.join(' or ') : undefined;
}

/** "a, b or c" */
export function orList(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`;
}
