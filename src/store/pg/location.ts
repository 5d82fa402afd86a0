import { VaultError } from '../../core/errors.js';

/** What a `postgres://` vault location says: the connection, the vault's name and schema. */
export interface PgLocation {
  /** the connection string handed to `pg` (the `vault` parameter removed) */
  connection: string;
  /** the vault's name (`?vault=NAME`, default `default`) */
  name: string;
  /** its schema: `vault_<name>` */
  schema: string;
  /** the location without a password: messages, status and the rollback anchor use it */
  display: string;
}

const NAME = /^[a-z0-9_]{1,48}$/;

/** Parses `postgres://[user[:password]@]host[:port]/db[?vault=NAME&…]`; usage error when the name is bad. */
export function parsePgLocation(url: string): PgLocation {
  let name = 'default';
  const connection = url.replace(/([?&])vault=([^&]*)(&?)/, (_m, pre: string, value: string, post: string) => {
    name = decodeURIComponent(value);
    return post ? pre : '';
  }).replace(/[?&]$/, '');
  if (!NAME.test(name)) {
    throw new VaultError('usage', `the vault name ${JSON.stringify(name)} in the URL is not valid`, { hint: 'a vault name is 1 to 48 of a-z, 0-9 and _ (?vault=team)' });
  }
  const noPassword = connection.replace(/^(postgres(?:ql)?:\/\/[^:@/]*):[^@/]*@/i, '$1@').replace(/([?&])password=[^&]*/gi, '$1password=***');
  const display = `${noPassword}${noPassword.includes('?') ? '&' : '?'}vault=${name}`;
  return { connection, name, schema: `vault_${name}`, display };
}
