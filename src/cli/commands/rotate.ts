import type { Command } from 'commander';
import { Option } from 'commander';
import { VaultError } from '../../core/errors.js';
import { formatRef } from '../../core/names.js';
import { rotateMasterKey, type RotationProgress } from '../../keyring/rotate.js';
import { CHARSETS, DEFAULT_CHARSET, DEFAULT_LENGTH, generateSecret, parseLength, type Charset } from '../../crypto/generate.js';
import type { IO } from '../io.js';
import { Session } from '../session.js';
import { jsonValue } from './get.js';
import { expiryFrom } from './put.js';

interface RotateFlags {
  master?: boolean;
  generate?: string | true;
  charset?: Charset;
  print?: boolean;
  fromFile?: string;
  raw?: boolean;
  ttl?: string;
  expires?: string;
}

export function register(program: Command, io: IO): void {
  program
    .command('rotate')
    .description('store a new version of a secret (typed, piped or generated), or with --master a new data key for the whole vault')
    .argument('[name]', 'NAME or NS/NAME')
    .option('--generate [length]', `generate the value with a CSPRNG (default length ${DEFAULT_LENGTH}, 8 to 4096)`)
    .addOption(new Option('--charset <set>', `characters for --generate (default ${DEFAULT_CHARSET})`).choices(Object.keys(CHARSETS)))
    .option('--print', 'also print the generated value on stdout')
    .option('--from-file <file>', 'read the value from a file, exact bytes')
    .option('--raw', 'keep a trailing newline read from stdin')
    .option('--ttl <duration>', 'expire after a duration (default: the secret keeps its lifetime)')
    .option('--expires <date>', 'expire at an ISO 8601 date or date-time')
    .option('--master', 'new data key: re-encrypt every version and re-wrap every key slot, in one transaction')
    .addHelpText(
      'after',
      '\nCharsets: alnum A-Z a-z 0-9 (default); alpha A-Z a-z; num 0-9; hex 0-9 a-f; base64url A-Z a-z 0-9 - _;\nascii every printable ASCII character except space.',
    )
    .action(async (name: string | undefined, flags: RotateFlags, cmd: Command) => {
      const s = new Session(io, cmd);
      if (flags.master) {
        const extra = (['generate', 'charset', 'print', 'fromFile', 'raw', 'ttl', 'expires'] as const).filter((k) => flags[k] !== undefined);
        if (name !== undefined) throw new VaultError('usage', 'vault rotate --master takes no secret name', { hint: 'vault rotate NAME rotates one secret' });
        if (extra.length > 0) throw new VaultError('usage', '--master cannot be combined with options for one secret');
        await rotateMaster(s);
        return;
      }
      if (name === undefined) throw new VaultError('usage', 'missing secret name', { hint: 'vault rotate NAME, or vault rotate --master for the whole vault' });
      const ref = s.ref(name);
      const generate = flags.generate === undefined ? undefined : flags.generate === true ? DEFAULT_LENGTH : parseLength(flags.generate);
      if (generate === undefined && (flags.charset !== undefined || flags.print)) {
        throw new VaultError('usage', `${flags.charset !== undefined ? '--charset' : '--print'} needs --generate`);
      }
      if (generate !== undefined && (flags.fromFile !== undefined || flags.raw)) {
        throw new VaultError('usage', `--generate cannot be combined with ${flags.fromFile !== undefined ? '--from-file' : '--raw'}`);
      }
      const explicitExpiry = flags.ttl !== undefined || flags.expires !== undefined ? expiryFrom(flags, Date.now()) : undefined;
      await s.withVault(false, async (vault) => {
        // A misspelt name fails before anyone is asked for a passphrase.
        if (!vault.findSecret(ref, false)) {
          throw new VaultError('not-found', `no secret ${formatRef(ref)}`, { hint: 'vault put stores a new secret; vault list shows the stored names' });
        }
        await s.unlock(vault);
        const charset = flags.charset ?? DEFAULT_CHARSET;
        const value = generate !== undefined ? generateSecret(generate, charset) : await s.readValue(formatRef(ref), flags);
        try {
          const { version } = vault.rotate(ref, value, {
            ...(explicitExpiry !== undefined ? { expiresAt: explicitExpiry } : {}),
            ...(generate !== undefined ? { detail: { generated: true, length: generate, charset, printed: flags.print === true } } : {}),
          });
          if (s.json) {
            s.outJson({
              ns: ref.ns,
              name: ref.name,
              version,
              ...(generate !== undefined ? { generated: { length: generate, charset } } : {}),
              ...(flags.print ? jsonValue(value) : {}),
            });
          } else {
            if (flags.print) {
              s.out(value);
              if (s.stdoutIsTTY) s.out('\n');
            }
            s.info(`rotated ${formatRef(ref)} to version ${version}${generate !== undefined ? ` (generated: ${generate} ${charset} characters)` : ''}`);
          }
        } finally {
          value.fill(0);
        }
      });
    });
}

async function rotateMaster(s: Session): Promise<void> {
  await s.withVault(true, async (vault) => {
    const progress = progressLine(s);
    let result;
    const oldKey = vault.dataKeyCopy();
    let updated = false;
    try {
      try {
        result = rotateMasterKey(vault, progress?.update);
      } finally {
        progress?.end();
      }
      // A session of this vault (whether or not it unlocked this run) takes the new key.
      updated = await s.handOverKey(vault, oldKey);
    } finally {
      oldKey.fill(0);
    }
    if (!result.checkpointed) s.warn('another process has the vault open; old pages may stay in its write-ahead log until that process exits');
    if (s.json) s.outJson({ versions: result.versions, slots: result.slots, pending: result.pending, ...(updated ? { session: 'updated' } : {}) });
    else {
      const later = result.pending === 0 ? '' : ` (${result.pending} ${result.pending === 1 ? 'takes' : 'take'} the new key at ${result.pending === 1 ? 'its' : 'their'} next unlock)`;
      s.info(`rotated the data key: re-encrypted ${result.versions} version${result.versions === 1 ? '' : 's'}, re-wrapped ${result.slots} key slot${result.slots === 1 ? '' : 's'}${later}`);
      if (updated) s.info('the running session now holds the new key');
    }
  });
}

/**
 * A counter on stderr while re-encrypting, only on a TTY and without --quiet. It is drawn
 * synchronously from inside the transaction (no timers run there), at most every 100 ms.
 */
function progressLine(s: Session): { update: RotationProgress; end: () => void } | undefined {
  const stderr = s.io.stderr;
  if (stderr.isTTY !== true || s.opts.quiet) return undefined;
  let last = 0;
  let drawn = false;
  return {
    update: (done, total) => {
      const now = Date.now();
      if (done !== total && now - last < 100) return;
      last = now;
      drawn = true;
      stderr.write(`\r\u001b[2Kre-encrypting ${done}/${total} versions…`);
    },
    end: () => {
      if (drawn) stderr.write('\r\u001b[2K');
    },
  };
}
