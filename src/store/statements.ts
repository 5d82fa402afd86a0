import type { Database, Statement } from 'better-sqlite3';

// Compiling a statement costs more than running it (a 10,000-secret import ran 50,000
// prepare() calls): every statement is compiled once per connection and kept.
const cache = new WeakMap<Database, Map<string, Statement>>();

export function stmt(db: Database, sql: string): Statement {
  let byText = cache.get(db);
  if (!byText) cache.set(db, (byText = new Map()));
  let st = byText.get(sql);
  if (!st) byText.set(sql, (st = db.prepare(sql)));
  return st;
}
