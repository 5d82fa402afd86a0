import type { Database } from 'better-sqlite3';

/**
 * Schema migrations, applied in order by PRAGMA user_version. A file whose user_version is
 * above SCHEMA_VERSION was written by a newer vault and is refused, never modified.
 * Append new migrations; never edit a released one.
 */
export const MIGRATIONS: ReadonlyArray<(db: Database) => void> = [
  // 1: meta, key slots, secrets and their versions
  (db) => {
    db.exec(`
      CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) STRICT;
      CREATE TABLE slots (
        id           TEXT PRIMARY KEY,
        kind         TEXT NOT NULL CHECK (kind IN ('passphrase', 'keychain', 'master-key')),
        label        TEXT,
        kdf          TEXT NOT NULL,
        kdf_params   TEXT NOT NULL,
        salt         BLOB NOT NULL,
        nonce        BLOB NOT NULL,
        wrapped_key  BLOB NOT NULL,
        created_at   INTEGER NOT NULL,
        last_used_at INTEGER
      ) STRICT;
      CREATE TABLE secrets (
        id              INTEGER PRIMARY KEY,
        ns              TEXT NOT NULL,
        name            TEXT NOT NULL,
        current_version INTEGER NOT NULL,
        description     TEXT,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL,
        removed_at      INTEGER,
        UNIQUE (ns, name)
      ) STRICT;
      CREATE TABLE versions (
        secret_id  INTEGER NOT NULL REFERENCES secrets (id) ON DELETE CASCADE,
        version    INTEGER NOT NULL,
        nonce      BLOB NOT NULL,
        ciphertext BLOB NOT NULL,
        size       INTEGER NOT NULL,
        expires_at INTEGER,
        origin     TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (secret_id, version)
      ) STRICT;
      -- The audit chain (src/audit). mac is NULL only for a failed unlock recorded while no
      -- key was available; the next unlock seals it into the chain.
      CREATE TABLE audit (
        seq          INTEGER PRIMARY KEY,
        at           INTEGER NOT NULL,
        op           TEXT NOT NULL,
        ns           TEXT,
        name         TEXT,
        version      INTEGER,
        outcome      TEXT NOT NULL,
        actor_user   TEXT NOT NULL,
        actor_pid    INTEGER NOT NULL,
        actor_parent TEXT NOT NULL,
        detail       TEXT,
        mac          BLOB
      ) STRICT;
    `);
  },
  // 2: the audit chain's lookups stay O(log n) however long the log grows: the last sealed
  // entry (appendAudit, status) and the unsealed failed unlocks (status, verify).
  (db) => {
    db.exec(`
      CREATE INDEX audit_sealed ON audit (seq) WHERE mac IS NOT NULL;
      CREATE INDEX audit_pending ON audit (seq) WHERE mac IS NULL;
    `);
  },
  // 3: key slots wrap the data key to an X25519 public key (src/crypto/slotwrap.ts), so that
  // rotate --master can re-wrap every slot without its passphrase or master key.
  (db) => {
    db.exec(`
      ALTER TABLE slots ADD COLUMN public_key BLOB;
      ALTER TABLE slots ADD COLUMN ephemeral_key BLOB;
      ALTER TABLE slots ADD COLUMN key_mac BLOB;
    `);
  },
  // 4: the authenticated keyring and metadata (docs/security.md). Slots get a sealed wrap
  // (wrap_format 2; 1 is 0.1's public-key wrap, converted at the slot's next unlock) and a
  // chain of pending links from rotate --master. Secrets get a random uid bound into every
  // ciphertext, the highest version ever used (numbers are never reused), the current
  // version's expiry, and a MAC under the data key. The MACs, the uid and the re-encryption
  // need the key: the first unlock completes the upgrade (meta format_version 1 -> 2).
  (db) => {
    db.exec(`
      ALTER TABLE slots ADD COLUMN wrap_format INTEGER NOT NULL DEFAULT 1;
      ALTER TABLE slots ADD COLUMN pending BLOB;
      ALTER TABLE secrets ADD COLUMN uid BLOB;
      ALTER TABLE secrets ADD COLUMN highest_version INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE secrets ADD COLUMN expires_at INTEGER;
      ALTER TABLE secrets ADD COLUMN mac BLOB;
      UPDATE secrets SET highest_version = COALESCE((SELECT MAX(version) FROM versions WHERE secret_id = secrets.id), current_version);
      UPDATE secrets SET expires_at = (SELECT expires_at FROM versions WHERE secret_id = secrets.id AND version = secrets.current_version);
    `);
  },
  // 5: agent grants (src/core/grants.ts, docs/security.md "Grants") and the not_secret flag
  // (a value that masking leaves alone, e.g. PORT). A grant row is authenticated like a
  // secret row: a MAC under the data key over every field, uses and rate window included,
  // and every grant MAC joins the state digest. not_secret joins the secret row MAC.
  (db) => {
    db.exec(`
      ALTER TABLE secrets ADD COLUMN not_secret INTEGER NOT NULL DEFAULT 0;
      CREATE TABLE grants (
        id           INTEGER PRIMARY KEY,
        name         TEXT NOT NULL UNIQUE,
        uid          BLOB NOT NULL,
        secrets      TEXT NOT NULL,
        ns           TEXT,
        prefix       TEXT,
        hosts        TEXT NOT NULL,
        commands     TEXT,
        expires_at   INTEGER,
        max_uses     INTEGER,
        rate         INTEGER,
        reveal       INTEGER NOT NULL,
        created_at   INTEGER NOT NULL,
        uses         INTEGER NOT NULL,
        last_used_at INTEGER,
        recent       TEXT NOT NULL,
        mac          BLOB NOT NULL
      ) STRICT;
    `);
  },
  // 6: team-vault members (issue 11, docs/security.md "Members"). A member is a key slot of
  // kind `member` (its label the member's name, its public key the member's identity): the
  // kind CHECK of migration 1 is widened by rebuilding the table (SQLite cannot alter a CHECK).
  // A member's name and key are unique among members. `rotation_due` marks a secret whose
  // value a removed member could read (member rm); it joins the secret row MAC when set.
  (db) => {
    db.exec(`
      CREATE TABLE slots_new (
        id            TEXT PRIMARY KEY,
        kind          TEXT NOT NULL CHECK (kind IN ('passphrase', 'keychain', 'master-key', 'member')),
        label         TEXT,
        kdf           TEXT NOT NULL,
        kdf_params    TEXT NOT NULL,
        salt          BLOB NOT NULL,
        nonce         BLOB NOT NULL,
        wrapped_key   BLOB NOT NULL,
        created_at    INTEGER NOT NULL,
        last_used_at  INTEGER,
        public_key    BLOB,
        ephemeral_key BLOB,
        key_mac       BLOB,
        wrap_format   INTEGER NOT NULL DEFAULT 1,
        pending       BLOB
      ) STRICT;
      INSERT INTO slots_new (id, kind, label, kdf, kdf_params, salt, nonce, wrapped_key, created_at, last_used_at, public_key, ephemeral_key, key_mac, wrap_format, pending)
        SELECT id, kind, label, kdf, kdf_params, salt, nonce, wrapped_key, created_at, last_used_at, public_key, ephemeral_key, key_mac, wrap_format, pending FROM slots;
      DROP TABLE slots;
      ALTER TABLE slots_new RENAME TO slots;
      CREATE UNIQUE INDEX slots_member_name ON slots (label) WHERE kind = 'member';
      CREATE UNIQUE INDEX slots_member_key ON slots (public_key) WHERE kind = 'member';
      ALTER TABLE secrets ADD COLUMN rotation_due INTEGER NOT NULL DEFAULT 0;
    `);
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;
