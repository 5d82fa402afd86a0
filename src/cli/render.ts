import { printable } from './output.js';
import type { Session } from './session.js';

/**
 * Tables on a TTY (cli-table3, loaded only then), plain tab-separated lines in a pipe.
 * Every cell goes through printable(): cells show stored text, which may hold control characters.
 */
export async function printTable(session: Session, head: string[], rows: string[][]): Promise<void> {
  const { default: Table } = await import('cli-table3');
  const color = session.stdoutColor;
  const table = new Table({
    head: color ? head.map((h) => `\u001b[1m${h}\u001b[22m`) : head,
    style: { head: [], border: [], compact: true },
    chars: { top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '', left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '  ' },
  });
  for (const row of rows) table.push(row.map(printable));
  session.out(table.toString() + '\n');
}

export function dateOnly(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString().replace('T', ' ').slice(0, 16) + 'Z';
}
