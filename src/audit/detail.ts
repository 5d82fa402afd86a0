import { createRequire } from 'node:module';
import { basename } from 'node:path';

/**
 * The command part of an `exec` entry's `detail`: the command's basename and how many
 * arguments followed it (the bulk read adds the names of the secrets injected). Never the arguments themselves (they may
 * hold anything, a secret too) and never the directory part of the command (a path may name
 * a user or a project; the basename is what a reviewer needs).
 *
 * `argv` is the command and its arguments as the user gave them (`vault exec -- CMD ARGS…`);
 * with `--command "…"` pass `['sh', '-c', text]`, which records `sh` and 2.
 */
export function execDetail(argv: readonly string[]): { command: string; argc: number } {
  const command = argv[0] === undefined ? '' : basename(argv[0]);
  return { command, argc: Math.max(0, argv.length - 1) };
}

// ---- name lists of bulk entries -------------------------------------------------------------

/** Above this many names, a bulk entry stores its list deflated (exec at 50,000 secrets wrote 750 KB per entry). */
export const COMPACT_NAMES_OVER = 64;
/** A planted entry cannot make a reader inflate more than this. */
const MAX_INFLATED = 32 * 1024 * 1024;

/** node:zlib only when a long list is written or read: `vault get` never loads it. */
function zlib(): typeof import('node:zlib') {
  return createRequire(import.meta.url)('node:zlib') as typeof import('node:zlib');
}

/**
 * A name list for an entry's detail under `key`: as is (`{ names: [...] }`) up to
 * COMPACT_NAMES_OVER names, else deflated (`{ names_count: N, names_z: base64 of the raw-deflated
 * JSON array }`). The stored text is what the entry's MAC covers, so the list stays verifiable;
 * queryAudit expands it back, so readers (and `vault audit --name`) see `names` either way.
 */
export function namesDetail(key: string, names: readonly string[]): Record<string, unknown> {
  if (names.length <= COMPACT_NAMES_OVER) return { [key]: names };
  return { [`${key}_count`]: names.length, [`${key}_z`]: zlib().deflateRawSync(Buffer.from(JSON.stringify(names)), { level: 6 }).toString('base64') };
}

/** A detail with every `KEY_z` list expanded back into `KEY` (at the same place); unreadable ones stay as stored. */
export function expandNames(detail: Record<string, unknown>): Record<string, unknown> {
  if (!Object.keys(detail).some((k) => k.endsWith('_z'))) return detail;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(detail)) {
    const key = k.slice(0, -2);
    if (k.endsWith('_z') && typeof v === 'string') {
      const names = inflateNames(v);
      if (names !== null) {
        out[key] = names;
        continue;
      }
    }
    if (k.endsWith('_count') && typeof detail[`${k.slice(0, -'_count'.length)}_z`] === 'string' && inflateNames(detail[`${k.slice(0, -'_count'.length)}_z`] as string) !== null) continue;
    out[k] = v;
  }
  return out;
}

function inflateNames(text: string): string[] | null {
  try {
    const value: unknown = JSON.parse(zlib().inflateRawSync(Buffer.from(text, 'base64'), { maxOutputLength: MAX_INFLATED }).toString('utf8'));
    return Array.isArray(value) && value.every((n) => typeof n === 'string') ? (value as string[]) : null;
  } catch {
    return null;
  }
}
