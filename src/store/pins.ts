import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { anchorDir, writePrivateJson } from './anchor.js';

/**
 * Member key pins (issue 11, docs/security.md "Members"): per user and per vault, the key
 * fingerprint this client last saw for each member name, in
 * $XDG_STATE_HOME/vault/pins/<vault id>.json (0600, next to the rollback anchors). A name
 * whose key differs from its pin is reported once (the pin then moves to the new key, with
 * the old one kept as `changedFrom`, which `member list` shows). A key this client added
 * itself (member add) is pinned without a warning.
 */

export interface Pin {
  fingerprint: string;
  /** epoch ms when this client first saw this key for the name */
  seen: number;
  /** the fingerprint this client had pinned before the key changed */
  changedFrom?: string;
}

export type Pins = Record<string, Pin>;

export function pinsPath(env: NodeJS.ProcessEnv, vaultId: string): string {
  return join(dirname(anchorDir(env)), 'pins', `${vaultId}.json`);
}

/** The pins; empty when there is no file or it does not parse (it is only ever advice). */
export function readPins(path: string): Pins {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as { members?: unknown };
    const members = parsed.members;
    if (typeof members !== 'object' || members === null) return {};
    const out: Pins = {};
    for (const [name, pin] of Object.entries(members as Record<string, Partial<Pin>>)) {
      if (typeof pin?.fingerprint !== 'string' || typeof pin.seen !== 'number') continue;
      out[name] = { fingerprint: pin.fingerprint, seen: pin.seen, ...(typeof pin.changedFrom === 'string' ? { changedFrom: pin.changedFrom } : {}) };
    }
    return out;
  } catch {
    return {};
  }
}

export interface KeyChange {
  name: string;
  from: string;
  to: string;
}

/**
 * Compares the members seen now with the pins and updates them: new names are pinned, a
 * changed key is returned (once: the pin moves to it). `vouched`: names this client has just
 * added itself (pinned as they are, never reported). Best effort: an unwritable state
 * directory loses the pins, never fails the command.
 */
export function updatePins(path: string, members: ReadonlyArray<{ name: string; fingerprint: string }>, now: number, vouched: ReadonlySet<string> = new Set()): { pins: Pins; changes: KeyChange[] } {
  const pins = readPins(path);
  const changes: KeyChange[] = [];
  let dirty = false;
  for (const m of members) {
    const pin = pins[m.name];
    if (pin && pin.fingerprint === m.fingerprint) continue;
    dirty = true;
    if (!pin || vouched.has(m.name)) {
      pins[m.name] = { fingerprint: m.fingerprint, seen: now };
      continue;
    }
    changes.push({ name: m.name, from: pin.fingerprint, to: m.fingerprint });
    pins[m.name] = { fingerprint: m.fingerprint, seen: now, changedFrom: pin.fingerprint };
  }
  if (dirty) {
    try {
      writePrivateJson(path, { members: pins });
    } catch {
      // advice only: see above
    }
  }
  return { pins, changes };
}
