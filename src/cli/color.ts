import type { ChalkInstance } from 'chalk';

/**
 * Colour through chalk, loaded only when colour is on (a script's `vault get` never pays for
 * the import). Whether colour is on is decided by colorEnabled (src/cli/io.ts: TTY only,
 * NO_COLOR, TERM=dumb, --no-color, FORCE_COLOR), not by chalk's own detection, which looks at
 * process.stdout rather than the stream being written: the instance is made at a fixed level.
 */
export async function chalkFor(enabled: boolean): Promise<ChalkInstance | undefined> {
  if (!enabled) return undefined;
  const { Chalk } = await import('chalk');
  return new Chalk({ level: 1 });
}
