import { chalkFor } from './color.js';
import { printable } from './output.js';
import type { Session } from './session.js';

/** No padding inside cells; two spaces between columns (the `middle` border). */
const PADDING = 0;
const GAP = 2;
/** A wrapped column is never made narrower than this. */
const MIN_WRAPPED = 6;

/**
 * Column widths (content only) that fit `columns` terminal cells: every column starts at its
 * widest cell; while the table is too wide, the widest of the `wrap` columns gives up one cell,
 * down to MIN_WRAPPED. Columns not in `wrap` keep their width (ids, dates, versions).
 */
export function fitWidths(natural: number[], wrap: ReadonlySet<number>, columns: number): number[] {
  const widths = [...natural];
  const total = (): number => widths.reduce((a, w) => a + w + PADDING, 0) + GAP * (widths.length - 1);
  while (total() > columns) {
    let widest = -1;
    for (const i of wrap) if (widths[i]! > MIN_WRAPPED && (widest === -1 || widths[i]! > widths[widest]!)) widest = i;
    if (widest === -1) break;
    widths[widest]!--;
  }
  return widths;
}

/**
 * Tables on a TTY (cli-table3, loaded only then), fitted to the terminal's width: the columns
 * listed in `wrap` (free text: descriptions, audit details) wrap inside their cell instead of
 * the terminal wrapping whole rows. Every cell goes through printable(): cells show stored
 * text, which may hold control characters.
 */
export async function printTable(session: Session, head: string[], rows: string[][], options: { wrap?: number[] } = {}): Promise<void> {
  const { default: Table } = await import('cli-table3');
  const chalk = await chalkFor(session.stdoutColor);
  const cells = rows.map((row) => row.map(printable));
  const natural = head.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const columns = (session.io.stdout as { columns?: number }).columns;
  const widths = columns !== undefined && columns > 0 ? fitWidths(natural, new Set(options.wrap ?? []), columns) : natural;
  const table = new Table({
    head: chalk ? head.map((h) => chalk.bold(h)) : head,
    colWidths: widths.map((w) => w + PADDING),
    wordWrap: true,
    wrapOnWordBoundary: false,
    style: { head: [], border: [], compact: true, 'padding-left': 0, 'padding-right': 0 },
    chars: { top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '', left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '  ' },
  });
  for (const row of cells) table.push(row);
  session.out(table.toString() + '\n');
}

export function dateOnly(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString().replace('T', ' ').slice(0, 16) + 'Z';
}
