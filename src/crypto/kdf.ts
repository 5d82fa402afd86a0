import { hkdfSync, pbkdf2, scrypt } from 'node:crypto';
import { VaultError } from '../core/errors.js';

/**
 * Key derivation for key slots. Parameters read from a vault file are checked against a
 * floor and a ceiling before any work is done: a lowered parameter (a downgrade attack) or
 * an absurd one (a denial of service) is refused with an integrity error. New slots always
 * take the defaults; only the library API may pass other parameters (PassphraseKdfPolicy,
 * Vault.create's kdf), and they must still lie within the bounds.
 */

export type KdfName = 'scrypt' | 'pbkdf2-sha256' | 'hkdf-sha256' | 'none';

export interface ScryptParams { N: number; r: number; p: number }
export interface Pbkdf2Params { iterations: number }

export type KdfSpec =
  | { name: 'scrypt'; params: ScryptParams }
  | { name: 'pbkdf2-sha256'; params: Pbkdf2Params }
  | { name: 'hkdf-sha256'; params: Record<string, never> }
  | { name: 'none'; params: Record<string, never> };

export type PassphraseKdf = 'scrypt' | 'pbkdf2';

export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 17, r: 8, p: 1 };
export const DEFAULT_PBKDF2: Pbkdf2Params = { iterations: 600_000 };

// Ceilings near twice today's defaults: a planted slot must not make an unlock run for
// minutes or take gigabytes (0.1 accepted N=2^20, r=32, p=16: 4 GiB and minutes of work).
const SCRYPT_BOUNDS = { N: [2 ** 14, 2 ** 18], r: [8, 16], p: [1, 2] } as const;
/** scrypt's work and memory grow with N*r*p (memory with N*r): at most twice the default's. */
const SCRYPT_MAX_COST = 2 * DEFAULT_SCRYPT.N * DEFAULT_SCRYPT.r * DEFAULT_SCRYPT.p;
const PBKDF2_BOUNDS = { iterations: [100_000, 1_200_000] } as const;

/**
 * The KDF work one unlock may spend over all the slots it tries, in units of one default
 * derivation: a file writer may add slots, and each one tried costs a derivation.
 */
export const UNLOCK_WORK_BUDGET = 4;

export const SALT_BYTES = 16;

/**
 * The parameters that new and re-sealed passphrase slots take, per KDF family. The CLI always
 * uses DEFAULT_POLICY (the `vault` binary has no flag or variable that changes it); a program
 * embedding the library (the tests) may choose other parameters within the bounds, as it may
 * for Vault.create. Slots below the policy are upgraded to it at their next unlock.
 */
export interface PassphraseKdfPolicy {
  scrypt: ScryptParams;
  pbkdf2: Pbkdf2Params;
}

export const DEFAULT_POLICY: PassphraseKdfPolicy = { scrypt: DEFAULT_SCRYPT, pbkdf2: DEFAULT_PBKDF2 };

/** The policy with `choice` over today's defaults; parameters outside the bounds are a usage error. */
export function kdfPolicy(choice: Partial<PassphraseKdfPolicy> | undefined): PassphraseKdfPolicy {
  if (choice === undefined) return DEFAULT_POLICY;
  const policy = { scrypt: choice.scrypt ?? DEFAULT_SCRYPT, pbkdf2: choice.pbkdf2 ?? DEFAULT_PBKDF2 };
  for (const spec of [defaultKdf('scrypt', policy), defaultKdf('pbkdf2', policy)]) {
    if (!withinBounds(spec)) throw new VaultError('usage', `passphrase kdf parameters (${spec.name} ${canonicalParams(spec)}) are outside the accepted range`);
  }
  return policy;
}

export function defaultKdf(kind: PassphraseKdf, policy: PassphraseKdfPolicy = DEFAULT_POLICY): KdfSpec {
  return kind === 'scrypt'
    ? { name: 'scrypt', params: { ...policy.scrypt } }
    : { name: 'pbkdf2-sha256', params: { ...policy.pbkdf2 } };
}

/** The canonical text of the parameters: stored in the file and bound into the wrap's AAD. */
export function canonicalParams(spec: KdfSpec): string {
  switch (spec.name) {
    case 'scrypt':
      return `N=${spec.params.N},r=${spec.params.r},p=${spec.params.p}`;
    case 'pbkdf2-sha256':
      return `iterations=${spec.params.iterations}`;
    default:
      return '';
  }
}

function intField(fields: Map<string, string>, key: string): number {
  const text = fields.get(key);
  if (text === undefined || !/^[1-9][0-9]{0,9}$/.test(text)) {
    throw new VaultError('integrity', `key slot has malformed kdf parameter ${key}`);
  }
  return Number(text);
}

/** Parses stored parameters and checks them against the bounds; throws integrity errors. */
export function parseKdf(name: string, canonical: string): KdfSpec {
  const fields = new Map<string, string>();
  if (canonical !== '') {
    for (const pair of canonical.split(',')) {
      const eq = pair.indexOf('=');
      if (eq <= 0 || fields.has(pair.slice(0, eq))) throw new VaultError('integrity', 'key slot has malformed kdf parameters');
      fields.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
  }
  let spec: KdfSpec;
  if (name === 'scrypt') {
    spec = { name, params: { N: intField(fields, 'N'), r: intField(fields, 'r'), p: intField(fields, 'p') } };
    if (fields.size !== 3) throw new VaultError('integrity', 'key slot has malformed kdf parameters');
  } else if (name === 'pbkdf2-sha256') {
    spec = { name, params: { iterations: intField(fields, 'iterations') } };
    if (fields.size !== 1) throw new VaultError('integrity', 'key slot has malformed kdf parameters');
  } else if (name === 'hkdf-sha256' || name === 'none') {
    if (fields.size !== 0) throw new VaultError('integrity', 'key slot has malformed kdf parameters');
    spec = { name, params: {} };
  } else {
    throw new VaultError('integrity', `key slot uses an unknown kdf ${JSON.stringify(name)}`);
  }
  checkKdfBounds(spec);
  return spec;
}

function within(value: number, [lo, hi]: readonly [number, number]): boolean {
  return Number.isSafeInteger(value) && value >= lo && value <= hi;
}

function withinBounds(spec: KdfSpec): boolean {
  if (spec.name === 'scrypt') {
    const { N, r, p } = spec.params;
    return within(N, SCRYPT_BOUNDS.N) && (N & (N - 1)) === 0 && within(r, SCRYPT_BOUNDS.r) && within(p, SCRYPT_BOUNDS.p) && N * r * p <= SCRYPT_MAX_COST;
  }
  if (spec.name === 'pbkdf2-sha256') return within(spec.params.iterations, PBKDF2_BOUNDS.iterations);
  return true;
}

export function checkKdfBounds(spec: KdfSpec): void {
  if (!withinBounds(spec)) {
    throw new VaultError('integrity', `key slot kdf parameters (${spec.name} ${canonicalParams(spec)}) are outside the accepted range`, {
      hint: 'the vault file may have been tampered with; restore it from a backup',
    });
  }
}

/** The work of one derivation in units of a default one (scrypt: N*r*p; PBKDF2: iterations); HKDF and none cost nothing. */
export function kdfWork(spec: KdfSpec): number {
  if (spec.name === 'scrypt') return (spec.params.N * spec.params.r * spec.params.p) / (DEFAULT_SCRYPT.N * DEFAULT_SCRYPT.r * DEFAULT_SCRYPT.p);
  if (spec.name === 'pbkdf2-sha256') return spec.params.iterations / DEFAULT_PBKDF2.iterations;
  return 0;
}

/** True when the slot's parameters are weaker than the policy's (today's defaults) for its KDF. */
export function isBelowDefaults(spec: KdfSpec, policy: PassphraseKdfPolicy = DEFAULT_POLICY): boolean {
  if (spec.name === 'scrypt') {
    return spec.params.N < policy.scrypt.N || spec.params.r < policy.scrypt.r || spec.params.p < policy.scrypt.p;
  }
  if (spec.name === 'pbkdf2-sha256') return spec.params.iterations < policy.pbkdf2.iterations;
  return false;
}

/** scrypt needs 128*N*r bytes; Node's default maxmem (32 MiB) is too small for N=2^17, r=8. */
export function scryptMaxmem(params: ScryptParams): number {
  return 128 * params.N * params.r + 128 * params.r * params.p + 16 * 1024 * 1024;
}

export function scryptAsync(secret: Buffer, salt: Buffer, params: ScryptParams, keylen = 32): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, keylen, { N: params.N, r: params.r, p: params.p, maxmem: scryptMaxmem(params) }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

/** Derives a 32-byte key-encryption key from a passphrase (scrypt / PBKDF2) or a master key (HKDF). */
export async function deriveKek(spec: KdfSpec, secret: Buffer, salt: Buffer): Promise<Buffer> {
  switch (spec.name) {
    case 'scrypt':
      return scryptAsync(secret, salt, spec.params);
    case 'pbkdf2-sha256':
      return new Promise((resolve, reject) => {
        pbkdf2(secret, salt, spec.params.iterations, 32, 'sha256', (err, key) => (err ? reject(err) : resolve(key)));
      });
    case 'hkdf-sha256':
      return Buffer.from(hkdfSync('sha256', secret, salt, 'vault master-key slot v1', 32));
    case 'none':
      if (secret.length !== 32) throw new VaultError('integrity', 'keychain key has the wrong length');
      return Buffer.from(secret);
  }
}
