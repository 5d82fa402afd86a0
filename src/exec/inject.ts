import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync, constants } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parseReference, type VersionedRef } from '../core/names.js';

/**
 * `vault inject`: a template in which each `{{ vault://NS/NAME[@VERSION] }}` (spaces or tabs
 * inside the braces optional) is replaced by the secret's exact bytes. The template is
 * handled as bytes (read as latin1, which maps each byte to one character and back), so a
 * template in any encoding passes through unchanged outside the references.
 */

const REFERENCE = /\{\{[ \t]*(vault:\/\/[^ \t{}]*)[ \t]*\}\}/g;

export interface TemplatePart {
  /** literal bytes before the reference (or the tail of the template) */
  text: Buffer;
  /** index into `refs` of the reference that follows `text`, or -1 for the tail */
  ref: number;
}

export interface Template {
  parts: TemplatePart[];
  /** distinct references, in order of first use */
  refs: VersionedRef[];
}

/** Splits a template at its references; a malformed reference is a usage error. */
export function parseTemplate(template: Buffer, defaultNs: string): Template {
  const text = template.toString('latin1');
  const parts: TemplatePart[] = [];
  const refs: VersionedRef[] = [];
  const index = new Map<string, number>();
  let from = 0;
  for (const m of text.matchAll(REFERENCE)) {
    const ref = parseReference(m[1]!, defaultNs);
    const key = `${ref.ns}/${ref.name}@${ref.version ?? ''}`;
    let i = index.get(key);
    if (i === undefined) {
      i = refs.length;
      refs.push(ref);
      index.set(key, i);
    }
    parts.push({ text: template.subarray(from, m.index), ref: i });
    from = m.index + m[0].length;
  }
  parts.push({ text: template.subarray(from), ref: -1 });
  return { parts, refs };
}

/** The template with each reference replaced by its value (`values` parallel to `refs`). */
export function renderTemplate(t: Template, values: Buffer[]): Buffer {
  const out: Buffer[] = [];
  for (const part of t.parts) {
    out.push(part.text);
    if (part.ref !== -1) out.push(values[part.ref]!);
  }
  return Buffer.concat(out);
}

/**
 * Writes `data` to `path` with mode 0600, atomically: a temporary file in the same directory
 * is written, fsynced and renamed over `path`, so readers see the old file or the new one,
 * never a part. On failure the temporary file is removed and `path` is left as it was.
 */
export function writeFileAtomic(path: string, data: Buffer): void {
  const target = resolve(path);
  const dir = dirname(target);
  const temp = join(dir, `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    try {
      // The umask may only remove bits; this makes the mode exactly 0600 whatever it is.
      fchmodSync(fd, 0o600);
      let written = 0;
      while (written < data.length) written += writeSync(fd, data, written, data.length - written);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, target);
  } catch (e) {
    try {
      unlinkSync(temp);
    } catch {
      // already gone
    }
    throw e;
  }
  // Make the rename itself durable; not possible everywhere, and the file is complete anyway.
  try {
    const dfd = openSync(dir, constants.O_RDONLY);
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // ignore
  }
}
