import { query } from './sqlite.js';

/**
 * Reads and edits a vault file from outside vault (python3's sqlite3, see sqlite.ts), not
 * through the code under test. Select BLOB columns as hex(col): rows come back as plain values.
 */
export function sql(path: string, statement: string): Array<Record<string, string | number | null>> {
  return query(path, statement) as Array<Record<string, string | number | null>>;
}

/** Every stored ciphertext and wrapped key, hex, keyed by row. */
export function keyMaterial(path: string): { versions: Map<string, string>; slots: Map<string, string>; auditKey: string } {
  const versions = new Map<string, string>();
  for (const r of sql(path, 'SELECT secret_id, version, hex(nonce) AS n, hex(ciphertext) AS c FROM versions')) {
    versions.set(`${r.secret_id}/${r.version}`, `${r.n}:${r.c}`);
  }
  const slots = new Map<string, string>();
  for (const r of sql(path, 'SELECT id, hex(nonce) AS n, hex(wrapped_key) AS w, hex(ephemeral_key) AS e, hex(pending) AS p FROM slots')) {
    slots.set(String(r.id), `${r.n}:${r.w}:${r.e}:${r.p}`);
  }
  const audit = sql(path, `SELECT value FROM meta WHERE key = 'audit_keys'`)[0];
  return { versions, slots, auditKey: String(audit?.value) };
}
