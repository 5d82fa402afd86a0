import { VaultError } from './errors.js';

/** SPEC §5 patterns. */
const NS_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

export const DEFAULT_NS = 'default';
export const MAX_VALUE_BYTES = 1024 * 1024;

export interface SecretRef {
  ns: string;
  name: string;
}

export interface VersionedRef extends SecretRef {
  version?: number;
}

export function isValidNamespace(ns: string): boolean {
  return NS_RE.test(ns);
}

export function isValidName(name: string): boolean {
  return NAME_RE.test(name);
}

export function checkNamespace(ns: string): string {
  if (!isValidNamespace(ns)) {
    throw new VaultError('usage', `invalid namespace ${JSON.stringify(ns)}`, {
      hint: 'a namespace is 1-64 characters of a-z, 0-9, ".", "_" or "-", starting with a letter or digit',
    });
  }
  return ns;
}

export function checkName(name: string): string {
  if (name === '') throw new VaultError('usage', 'empty secret name');
  if (!isValidName(name)) {
    throw new VaultError('usage', `invalid secret name ${JSON.stringify(name)}`, {
      hint: 'a name is an environment-variable name: letters, digits and "_", not starting with a digit, at most 128 characters',
    });
  }
  return name;
}

/**
 * Parses `NAME` or `NS/NAME`. A namespace given inside the argument wins over the default
 * namespace passed in (from --ns or VAULT_NS).
 */
export function parseSecretRef(arg: string, defaultNs: string): SecretRef {
  const slash = arg.indexOf('/');
  if (slash === -1) return { ns: checkNamespace(defaultNs), name: checkName(arg) };
  return { ns: checkNamespace(arg.slice(0, slash)), name: checkName(arg.slice(slash + 1)) };
}

export function parseVersion(text: string): number {
  if (!/^[1-9][0-9]{0,8}$/.test(text)) {
    throw new VaultError('usage', `invalid version ${JSON.stringify(text)}`, { hint: 'a version is a whole number from 1' });
  }
  return Number(text);
}

const REF_PREFIX = 'vault://';

/** True when the text has the form of a `vault://` reference (it may still be malformed). */
export function looksLikeReference(text: string): boolean {
  return text.startsWith(REF_PREFIX);
}

/** Parses `vault://NS/NAME`, `vault://NAME`, with an optional `@VERSION`. */
export function parseReference(text: string, defaultNs: string): VersionedRef {
  if (!looksLikeReference(text)) {
    throw new VaultError('usage', `not a vault reference: ${JSON.stringify(text)}`);
  }
  let body = text.slice(REF_PREFIX.length);
  let version: number | undefined;
  const at = body.lastIndexOf('@');
  if (at !== -1) {
    version = parseVersion(body.slice(at + 1));
    body = body.slice(0, at);
  }
  const ref = parseSecretRef(body, defaultNs);
  return version === undefined ? ref : { ...ref, version };
}

export function formatRef(ref: SecretRef): string {
  return `${ref.ns}/${ref.name}`;
}
