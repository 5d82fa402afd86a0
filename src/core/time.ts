import { VaultError } from './errors.js';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `30d`, `12h`, `90m`, `2w`, `45s` → milliseconds. */
export function parseDuration(text: string): number {
  const m = /^([1-9][0-9]{0,6})([smhdw])$/.exec(text);
  if (!m) {
    throw new VaultError('usage', `invalid duration ${JSON.stringify(text)}`, {
      hint: 'use a number and a unit: 45s, 90m, 12h, 30d or 2w',
    });
  }
  return Number(m[1]) * UNITS[m[2]!]!;
}

/**
 * An ISO 8601 date (`2027-01-31`, meaning 00:00 UTC that day) or date-time with a zone
 * (`2027-01-31T12:00:00Z`, `…+02:00`) → epoch milliseconds.
 */
export function parseTimestamp(text: string): number {
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(text);
  const dateTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/.test(text);
  const ms = dateOnly ? Date.parse(`${text}T00:00:00Z`) : dateTime ? Date.parse(text) : NaN;
  if (Number.isNaN(ms) || (dateOnly && new Date(ms).toISOString().slice(0, 10) !== text)) {
    throw new VaultError('usage', `invalid date ${JSON.stringify(text)}`, {
      hint: 'use an ISO 8601 date such as 2027-01-31 or 2027-01-31T12:00:00Z',
    });
  }
  return ms;
}

export function isoTime(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}
