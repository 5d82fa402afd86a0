import { spawnSync } from 'node:child_process';

/**
 * Reads and edits a vault file from outside vault, through the sqlite3 command-line shell,
 * not through the code under test. BLOB columns should be selected as hex(col).
 */
export function sql(path: string, statement: string): Array<Record<string, string | number | null>> {
  const r = spawnSync('sqlite3', ['-json', '-bail', path, statement], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sqlite3 failed (${r.status}): ${r.stderr}`);
  return r.stdout.trim() === '' ? [] : (JSON.parse(r.stdout) as Array<Record<string, string | number | null>>);
}

/** Every stored ciphertext and wrapped key, hex, keyed by row. */
export function keyMaterial(path: string): { versions: Map<string, string>; slots: Map<string, string>; auditKey: string } {
  const versions = new Map<string, string>();
  for (const r of sql(path, 'SELECT secret_id, version, hex(nonce) AS n, hex(ciphertext) AS c FROM versions')) {
    versions.set(`${r.secret_id}/${r.version}`, `${r.n}:${r.c}`);
  }
  const slots = new Map<string, string>();
  for (const r of sql(path, 'SELECT id, hex(nonce) AS n, hex(wrapped_key) AS w, hex(ephemeral_key) AS e FROM slots')) {
    slots.set(String(r.id), `${r.n}:${r.w}:${r.e}`);
  }
  const audit = sql(path, `SELECT value FROM meta WHERE key = 'audit_key'`)[0];
  return { versions, slots, auditKey: String(audit?.value) };
}
