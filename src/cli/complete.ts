import type { Command, Option } from 'commander';
import { printable } from './output.js';

/**
 * Shell completion, decided in one place for bash, zsh and fish: the scripts printed by
 * `vault completion SHELL` pass the words typed so far to the hidden `vault __complete -- WORDS…`
 * and show what it answers. The answer's first line is a directive, the rest candidates
 * (`value` or `value<TAB>description`):
 *   values       complete with the candidates
 *   nospace      the same, without a space after (the word goes on: `NS/`, `A,B,`)
 *   files        let the shell complete file names
 *   delegate N   complete words N… (N counts `vault` as 0) as a command line of its own (exec)
 * Secret names come from the vault file without unlocking it; any failure gives no candidates.
 */

export interface Candidate {
  value: string;
  description?: string;
}

export type Completion =
  | { kind: 'values'; candidates: Candidate[]; noSpace?: boolean }
  | { kind: 'files' }
  | { kind: 'delegate'; index: number };

/** Reads names without unlocking; each returns [] when the vault cannot be read. */
export interface NameSource {
  names(where: { vault?: string; ns?: string }, ns: string | undefined): string[];
  namespaces(where: { vault?: string }): string[];
  /** the namespace in force when no --ns is typed ($VAULT_NS or default) */
  defaultNs(): string;
}

/** Options whose value is a file name, by attribute name. */
const FILE_OPTIONS = new Set(['vault', 'envFile', 'in', 'out', 'fromFile']);

function takesValue(o: Option): boolean {
  return o.required || o.optional;
}

function findOption(options: readonly Option[], flag: string): Option | undefined {
  return options.find((o) => o.long === flag || o.short === flag);
}

function findCommand(program: Command, word: string): Command | undefined {
  return program.commands.find((c) => c.name() === word || c.aliases().includes(word));
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? '';
}

function filtered(candidates: Candidate[], prefix: string): Candidate[] {
  return candidates.filter((c) => c.value.startsWith(prefix));
}

function optionCandidates(options: readonly Option[]): Candidate[] {
  const out: Candidate[] = [];
  for (const o of options) {
    if (o.hidden) continue;
    const description = firstLine(o.description);
    if (o.long) out.push({ value: o.long, description });
    if (o.short) out.push({ value: o.short, description });
  }
  return out;
}

/** Names for `cur`: `NAME…` in the namespace in force, or `NS/NAME…` in NS. */
function nameCandidates(source: NameSource, where: { vault?: string; ns?: string }, cur: string): Completion {
  const slash = cur.indexOf('/');
  if (slash !== -1) {
    const ns = cur.slice(0, slash);
    return { kind: 'values', candidates: filtered(source.names(where, ns).map((n) => ({ value: `${ns}/${n}` })), cur) };
  }
  const names = source.names(where, where.ns).map((n) => ({ value: n }));
  // `NS/` for the other namespaces, so `vault get prod/<TAB>` can be reached by completion.
  const current = where.ns ?? source.defaultNs();
  const spaces = source.namespaces(where).filter((ns) => ns !== current).map((ns) => ({ value: `${ns}/` }));
  const candidates = filtered([...names, ...spaces], cur);
  const onlySpaces = candidates.length > 0 && candidates.every((c) => c.value.endsWith('/'));
  return { kind: 'values', candidates, noSpace: onlySpaces };
}

/** `A,B,PRE` → `A,B,NAME` for each name starting with PRE not already listed. */
function nameListCandidates(source: NameSource, where: { vault?: string; ns?: string }, cur: string): Completion {
  const comma = cur.lastIndexOf(',');
  const head = cur.slice(0, comma + 1);
  const listed = new Set(head.split(',').filter((n) => n !== ''));
  const last = cur.slice(comma + 1);
  const names = source.names(where, where.ns).filter((n) => n.startsWith(last) && !listed.has(n));
  return { kind: 'values', candidates: names.map((n) => ({ value: head + n })) };
}

function valueCompletion(o: Option, source: NameSource, where: { vault?: string; ns?: string }, cur: string): Completion {
  if (o.argChoices) return { kind: 'values', candidates: filtered(o.argChoices.map((c) => ({ value: c })), cur) };
  const attr = o.attributeName();
  if (FILE_OPTIONS.has(attr)) return { kind: 'files' };
  if (attr === 'ns') return { kind: 'values', candidates: filtered(source.namespaces(where).map((n) => ({ value: n })), cur) };
  if (attr === 'only') return nameListCandidates(source, where, cur);
  if (attr === 'name') return nameCandidates(source, where, cur);
  return { kind: 'values', candidates: [] };
}

/**
 * What to offer for the last of `words` (the words after `vault`, the last one being the word
 * under the cursor, possibly empty).
 */
export function complete(program: Command, words: string[], source: NameSource): Completion {
  const cur = words[words.length - 1] ?? '';
  const before = words.slice(0, -1);
  const where: { vault?: string; ns?: string } = {};
  let cmd: Command | undefined;
  let operands = 0;
  /** a flag whose value is the word under the cursor */
  let pending: Option | undefined;
  for (let i = 0; i < before.length; i++) {
    const word = before[i]!;
    if (word === '--') {
      if (cmd?.name() === 'exec') return { kind: 'delegate', index: i + 2 };
      operands += before.length - i - 1;
      break;
    }
    if (word.startsWith('-') && word.length > 1) {
      const eq = word.indexOf('=');
      const flag = eq === -1 ? word : word.slice(0, eq);
      const o = findOption(cmd?.options ?? [], flag) ?? findOption(program.options, flag);
      if (o && takesValue(o)) {
        if (eq === -1 && i + 1 === before.length) {
          pending = o;
          break;
        }
        const value = eq === -1 ? before[++i]! : word.slice(eq + 1);
        if (o.attributeName() === 'vault') where.vault = value;
        if (o.attributeName() === 'ns') where.ns = value;
      }
      continue;
    }
    if (!cmd) {
      cmd = findCommand(program, word);
      if (!cmd) return { kind: 'values', candidates: [] };
      continue;
    }
    if (cmd.name() === 'exec') return { kind: 'delegate', index: i + 1 };
    operands++;
  }
  if (pending) return valueCompletion(pending, source, where, cur);

  if (cur.startsWith('-')) {
    const options = cmd ? [...optionCandidates(cmd.options), ...optionCandidates(program.options)] : optionCandidates(program.options);
    return { kind: 'values', candidates: filtered(options, cur) };
  }
  if (!cmd) {
    const help = program.createHelp();
    // Aliases (run, set, delete, ls) are offered too: a user who types them expects them completed.
    const commands = help.visibleCommands(program).flatMap((c) => [
      { value: c.name(), description: firstLine(c.description()) },
      ...c.aliases().map((a) => ({ value: a, description: `same as ${c.name()}: ${firstLine(c.description())}` })),
    ]);
    return { kind: 'values', candidates: filtered(commands, cur) };
  }
  if (cmd.name() === 'exec') return { kind: 'delegate', index: words.length };
  const args = cmd.registeredArguments;
  const arg = args[Math.min(operands, args.length - 1)];
  if (!arg || (operands >= args.length && !arg.variadic)) return { kind: 'values', candidates: [] };
  if (arg.argChoices) return { kind: 'values', candidates: filtered(arg.argChoices.map((c) => ({ value: c })), cur) };
  if (arg.name() === 'name' || arg.name() === 'old') return nameCandidates(source, where, cur);
  if (arg.name() === 'file' || arg.name() === 'template') return { kind: 'files' };
  return { kind: 'values', candidates: [] };
}

/** The answer as `vault __complete` prints it. */
export function renderCompletion(c: Completion): string {
  if (c.kind === 'files') return 'files\n';
  if (c.kind === 'delegate') return `delegate ${c.index}\n`;
  // Names and descriptions come from the vault file: a control character would reach the terminal (or break the line format).
  const lines = c.candidates.map((x) => (x.description ? `${printable(x.value)}\t${printable(x.description)}` : printable(x.value)));
  return [c.noSpace ? 'nospace' : 'values', ...lines].map((l) => `${l}\n`).join('');
}
