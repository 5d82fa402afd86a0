import { randomBytes } from 'node:crypto';
import { VaultError } from '../core/errors.js';

/** `vault1-` + base64url (no padding) of 32 random bytes: 50 characters. */
const MASTER_KEY_RE = /^vault1-([A-Za-z0-9_-]{43})$/;

export function generateMasterKey(): { text: string; raw: Buffer } {
  const raw = randomBytes(32);
  return { text: `vault1-${raw.toString('base64url')}`, raw };
}

/** Parses a master key; a malformed one is a usage error (never echoed back: it is a secret). */
export function parseMasterKey(text: string, source: string): Buffer {
  const m = MASTER_KEY_RE.exec(text.trim());
  const raw = m ? Buffer.from(m[1]!, 'base64url') : null;
  if (!raw || raw.length !== 32 || raw.toString('base64url') !== m![1]) {
    throw new VaultError('usage', `${source} is not a vault master key`, {
      hint: 'a master key looks like vault1-<43 base64url characters>, as printed by vault key add',
    });
  }
  return raw;
}
