/**
 * The contract between `npm run bench` (scripts/bench.ts) and the topic benchmarks
 * (scripts/bench-<topic>.ts). Each topic module exports `measure(): Promise<BenchRow[]>` and,
 * when run directly (`node dist/scripts/bench-<topic>.js`), prints its own rows with
 * `printRows`. bench.ts runs every topic module and prints one table with a goal column.
 */
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
export interface BenchRow {
  /** What was measured, e.g. "vault get (session)". */
  label: string;
  /** The figure as printed, e.g. "41.2 ms (1.31× node)" or "12 µs/secret". */
  figure: string;
  /** The goal as printed, e.g. "≤ 1.5× node"; "" when the row has none (a reference figure). */
  goal: string;
  /** Whether the goal was met in this run; null for a row without a goal. */
  met: boolean | null;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function printRows(rows: BenchRow[]): void {
  const w = Math.max(7, ...rows.map((r) => r.label.length));
  const f = Math.max(6, ...rows.map((r) => r.figure.length));
  console.log(`${'measure'.padEnd(w)}  ${'figure'.padEnd(f)}  goal`);
  for (const r of rows) {
    const verdict = r.met === null ? '' : r.met ? '  (met)' : '  (NOT met)';
    console.log(`${r.label.padEnd(w)}  ${r.figure.padEnd(f)}  ${r.goal}${verdict}`);
  }
}

/** Milliseconds one whole `node ARGS` process takes; throws with its stderr when it fails. */
export function timeRun(args: string[], env: NodeJS.ProcessEnv, input?: string): number {
  const t = performance.now();
  const r = spawnSync(process.execPath, args, { env, input, stdio: ['pipe', 'ignore', 'pipe'], maxBuffer: 1 << 26 });
  const took = performance.now() - t;
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr?.toString()}`);
  return took;
}
