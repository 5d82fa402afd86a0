/**
 * Variables whose value unlocks a vault or becomes its passphrase (the _FILE forms hold paths,
 * not secrets): the launcher takes them out of the environment (src/cli/environ.ts), and the
 * PostgreSQL worker thread never gets them (src/store/pg/thread.ts).
 */
export const SECRET_VARIABLES: ReadonlyArray<string> = ['VAULT_MASTER_KEY', 'VAULT_PASSPHRASE', 'VAULT_NEW_PASSPHRASE'];
