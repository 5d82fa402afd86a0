import { SCHEMA_VERSION } from '../../src/store/schema.js';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freshVault, ROOT, runInProcess, type RunResult } from '../helpers/cli.js';
import { query } from '../helpers/sqlite.js';

/** status, help, --version, flag and name errors, --json errors. */

let v: Awaited<ReturnType<typeof freshVault>>;
before(async () => {
  v = await freshVault();
  const r = await runInProcess(['put', 'A'], { env: v.env, input: 'a' });
  assert.equal(r.status, 0, r.stderr);
});
after(() => v?.cleanup());

const iso = (ms: unknown): string | null => (ms === null ? null : new Date(ms as number).toISOString());

function refused(r: RunResult, status: number, stderr: string): void {
  assert.equal(r.stderr, stderr);
  assert.equal(r.status, status);
  assert.equal(r.out, '');
}

describe('status', () => {
  /** Everything status reports, read from the file with python3. */
  function facts(): {
    id: string;
    created: string | null;
    slots: Array<Record<string, unknown>>;
    counts: Record<string, number>;
    head: { seq: number; mac: string };
  } {
    const meta = Object.fromEntries(query(v.path, 'SELECT key, value FROM meta').map((r) => [r.key, r.value]));
    const slots = query(v.path, 'SELECT id, kind, label, kdf, kdf_params, created_at, last_used_at FROM slots ORDER BY created_at, id');
    const [counts] = query(
      v.path,
      `SELECT (SELECT COUNT(*) FROM secrets WHERE removed_at IS NULL) AS secrets, (SELECT COUNT(*) FROM secrets WHERE removed_at IS NOT NULL) AS removed,
              (SELECT COUNT(*) FROM versions) AS versions, (SELECT COUNT(*) FROM audit) AS entries`,
    );
    const [head] = query(v.path, 'SELECT seq, hex(mac) AS mac FROM audit WHERE mac IS NOT NULL ORDER BY seq DESC LIMIT 1');
    return {
      id: meta.vault_id as string,
      created: iso(Number(meta.created_at)),
      slots,
      counts: counts as Record<string, number>,
      head: { seq: head!.seq as number, mac: (head!.mac as string).toLowerCase().slice(0, 16) },
    };
  }

  test('works with no passphrase set; plain lines in a pipe', async () => {
    const r = await runInProcess(['status'], { env: { VAULT_PATH: v.path } });
    assert.equal(r.stderr, '');
    assert.equal(r.status, 0);
    const f = facts();
    // freshVault(): a passphrase slot at the cheapest scrypt cost, and a master key labelled "tests"
    assert.deepEqual(f.slots.map((s) => s.kind).sort(), ['master-key', 'passphrase']);
    assert.equal(
      r.out,
      [
        `path:      ${v.path}`,
        `vault id:  ${f.id}`,
        `format:    2 (schema ${SCHEMA_VERSION})`,
        `secrets:   1 (1 versions, 0 removed)`,
        `audit:     ${f.counts.entries} entries, head #${f.head.seq} ${f.head.mac}`,
        'session:   locked (no session; vault unlock starts one)',
        'slots:',
        ...f.slots.map((s) => (s.kind === 'passphrase' ? `  ${s.id as string}  passphrase scrypt N=16384,r=8,p=1` : `  ${s.id as string}  master-key hkdf-sha256  "tests"`)),
        '',
      ].join('\n'),
    );
  });

  test('--json: the documented shape, no values', async () => {
    const r = await runInProcess(['status', '--json'], { env: { VAULT_PATH: v.path } });
    assert.equal(r.stderr, '');
    assert.equal(r.status, 0);
    const f = facts();
    const expected = {
      path: v.path,
      vaultId: f.id,
      formatVersion: 2,
      schemaVersion: SCHEMA_VERSION,
      created: f.created,
      slots: f.slots.map((s) => ({
        id: s.id,
        kind: s.kind,
        label: s.label,
        kdf: s.kdf,
        kdfParams: s.kdf_params,
        created: iso(s.created_at),
        lastUsed: iso(s.last_used_at),
      })),
      secrets: f.counts.secrets,
      removed: f.counts.removed,
      versions: f.counts.versions,
      audit: { entries: f.counts.entries, head: f.head, pending: 0 },
      session: { state: 'none' },
    };
    assert.equal(r.out, `${JSON.stringify(expected)}\n`);
    assert.equal(typeof (JSON.parse(r.out) as { slots: Array<{ kind: string; lastUsed: unknown }> }).slots.find((s) => s.kind === 'master-key')!.lastUsed, 'string', 'the put stamped the slot');
  });
});

describe('help and version', () => {
  test('vault help exit-codes prints the SPEC §8 table, with exec\'s 126, 127 and 128+N; the README\'s table says the same', async () => {
    const r = await runInProcess(['help', 'exit-codes']);
    assert.equal(r.stderr, '');
    assert.equal(r.status, 0);
    assert.equal(
      r.out,
      [
        'CODE   NAME              WHEN',
        '0      ok                success (an empty list too)',
        '1      error             unexpected or I/O failure; a vault file, directory or -wal/-shm other users can read, change or own',
        '2      usage             bad flags, arguments, names, value too large, empty value',
        '3      not-found         no such secret, version, slot',
        '4      locked            unlocking needed and no non-interactive way was given',
        '5      auth-failed       wrong passphrase or key (one message for every cause); three wrong passphrases at a prompt',
        '6      not-initialized   no vault at the path',
        '7      integrity         a ciphertext, slot, schema or audit entry failed its check; a file that is not a vault',
        '8      exists            put of an existing name without --force, init of an existing vault',
        "9      expired           the secret's expiry has passed",
        '126    exec: cannot run  exec: the command was found but cannot be run (permission denied, not executable)',
        '127    exec: not found   exec: the command was not found',
        '128+N  exec: signal      exec: the command died of signal N (130 for SIGINT, 143 for SIGTERM)',
        '130    cancelled         Ctrl-C at a prompt or while unlocking',
        '',
      ].join('\n'),
    );
    // The README's "Exit codes" table: the same rows, backquotes aside.
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const start = readme.indexOf('\n## Exit codes\n');
    const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
    const tableRows = section
      .split('\n')
      .filter((l) => /^\| [0-9]/.test(l))
      .map((l) => l.slice(2, -2).split(' | ').map((c) => c.replace(/`/g, '')));
    const printed = r.out
      .split('\n')
      .slice(1, -1)
      .map((l) => l.split(/ {2,}/));
    assert.deepEqual(tableRows, printed);
    const json = await runInProcess(['help', 'exit-codes', '--json']);
    assert.equal(json.status, 0);
    const rows = JSON.parse(json.out) as Array<{ code: number; name: string }>;
    assert.deepEqual(
      rows.map((x) => `${x.code}:${x.name}`),
      ['0:ok', '1:error', '2:usage', '3:not-found', '4:locked', '5:auth-failed', '6:not-initialized', '7:integrity', '8:exists', '9:expired', '126:exec: cannot run', '127:exec: not found', '128+N:exec: signal', '130:cancelled'],
    );
    refused(await runInProcess(['help', 'nonsense']), 2, 'vault: error: no help topic "nonsense"\nvault: hint: vault help lists the commands; vault help exit-codes lists the exit codes\n');
  });

  test('--version prints the package version, also after global options', async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const args of [['--version'], ['--vault', '/nonexistent/v.db', '--version'], ['--ns', 'ci', '--json', '--version']]) {
      const r = await runInProcess(args);
      assert.equal(r.stderr, '', args.join(' '));
      assert.equal(r.status, 0);
      assert.equal(r.out, `${pkg.version}\n`);
    }
  });

  test('--help goes to stdout with exit 0; no arguments at all prints it on stderr with exit 2', async () => {
    const help = await runInProcess(['--help']);
    assert.equal(help.status, 0);
    assert.equal(help.stderr, '');
    assert.ok(help.out.startsWith('Usage: vault [options] [command]\n'), help.out);
    const none = await runInProcess([]);
    assert.equal(none.status, 2);
    assert.equal(none.out, '');
    assert.equal(none.stderr, help.out);
    assert.ok(help.out.endsWith('\nvault --version prints the version; vault help exit-codes lists the exit codes.\n'));
    const viaHelp = await runInProcess(['help']);
    assert.equal(viaHelp.status, 0);
    assert.equal(viaHelp.out, help.out);
    const getHelp = await runInProcess(['help', 'get']);
    assert.equal(getHelp.status, 0);
    assert.equal(getHelp.out, (await runInProcess(['get', '--help'])).out);
  });
});

describe('usage errors → 2', () => {
  const HELP_HINT = 'vault: hint: vault --help lists the commands and flags\n';

  test('an unknown flag, command or missing argument', async () => {
    refused(await runInProcess(['get', 'A', '--bogus'], { env: v.env }), 2, `vault: error: unknown option '--bogus'\n${HELP_HINT}`);
    refused(await runInProcess(['--bogus', 'list'], { env: v.env }), 2, `vault: error: unknown option '--bogus'\n${HELP_HINT}`);
    refused(await runInProcess(['frobnicate'], { env: v.env }), 2, `vault: error: unknown command 'frobnicate'\n${HELP_HINT}`);
    refused(await runInProcess(['get'], { env: v.env }), 2, `vault: error: missing required argument 'name'\n${HELP_HINT}`);
    refused(await runInProcess(['get', 'A', 'B'], { env: v.env }), 2, `vault: error: too many arguments for 'get'; expected 1 argument but got 2\n${HELP_HINT}`);
  });

  test('invalid namespaces and names, empty names; nothing is opened', async () => {
    const NS_HINT = 'vault: hint: a namespace is 1-64 characters of a-z, 0-9, ".", "_" or "-", starting with a letter or digit\n';
    const NAME_HINT = 'vault: hint: a name is an environment-variable name: letters, digits and "_", not starting with a digit, at most 128 characters\n';
    // A missing vault path shows that names are checked before the file is looked at.
    const env = { VAULT_PATH: join(v.dir, 'missing.db'), VAULT_PASSPHRASE: 'x' };
    refused(await runInProcess(['get', 'Bad/A'], { env }), 2, `vault: error: invalid namespace "Bad"\n${NS_HINT}`);
    refused(await runInProcess(['get', '-x/A'], { env }), 2, `vault: error: unknown option '-x/A'\n${HELP_HINT}`);
    refused(await runInProcess(['get', '.ns/A'], { env }), 2, `vault: error: invalid namespace ".ns"\n${NS_HINT}`);
    refused(await runInProcess(['get', `${'n'.repeat(65)}/A`], { env }), 2, `vault: error: invalid namespace "${'n'.repeat(65)}"\n${NS_HINT}`);
    refused(await runInProcess(['get', '/A'], { env }), 2, `vault: error: invalid namespace ""\n${NS_HINT}`);
    refused(await runInProcess(['list', '--ns', 'My NS'], { env }), 2, `vault: error: invalid namespace "My NS"\n${NS_HINT}`);
    refused(await runInProcess(['list'], { env: { ...env, VAULT_NS: 'UPPER' } }), 2, `vault: error: invalid namespace "UPPER"\n${NS_HINT}`);
    refused(await runInProcess(['put', 'A'], { env: { ...env, VAULT_NS: 'a/b' }, input: 'x' }), 2, `vault: error: invalid namespace "a/b"\n${NS_HINT}`);
    refused(await runInProcess(['get', '1PASSWORD'], { env }), 2, `vault: error: invalid secret name "1PASSWORD"\n${NAME_HINT}`);
    refused(await runInProcess(['put', 'MY-KEY'], { env, input: 'x' }), 2, `vault: error: invalid secret name "MY-KEY"\n${NAME_HINT}`);
    refused(await runInProcess(['get', 'ci/a/b'], { env }), 2, `vault: error: invalid secret name "a/b"\n${NAME_HINT}`);
    refused(await runInProcess(['get', `A${'b'.repeat(128)}`], { env }), 2, `vault: error: invalid secret name "A${'b'.repeat(128)}"\n${NAME_HINT}`);
    refused(await runInProcess(['get', ''], { env }), 2, 'vault: error: empty secret name\n');
    refused(await runInProcess(['rm', 'ci/', '--yes'], { env }), 2, 'vault: error: empty secret name\n');
    // 128 characters and a 64-character namespace are fine.
    const longName = `A${'b'.repeat(127)}`;
    const longNs = 'n'.repeat(64);
    const put = await runInProcess(['put', `${longNs}/${longName}`], { env: v.env, input: 'long' });
    assert.equal(put.stderr, `stored ${longNs}/${longName} version 1\n`);
    assert.equal(put.status, 0);
    // An empty VAULT_NS means the default namespace.
    const list = await runInProcess(['list'], { env: { VAULT_PATH: v.path, VAULT_NS: '' } });
    assert.equal(list.status, 0);
    assert.equal(list.out, 'A\n');
  });
});

describe('--json errors', () => {
  test('one JSON object on stderr, nothing on stdout, wherever --json is given', async () => {
    refused(await runInProcess(['--json', 'get', 'NOPE'], { env: v.env }), 3, '{"error":{"code":"not-found","message":"no secret default/NOPE","hint":"vault list shows the stored names"}}\n');
    refused(await runInProcess(['get', 'NOPE', '--json'], { env: v.env }), 3, '{"error":{"code":"not-found","message":"no secret default/NOPE","hint":"vault list shows the stored names"}}\n');
    refused(await runInProcess(['--json', 'frobnicate']), 2, `{"error":{"code":"usage","message":"unknown command 'frobnicate'","hint":"vault --help lists the commands and flags"}}\n`);
    refused(await runInProcess(['get', 'A', '--json', '--bogus']), 2, `{"error":{"code":"usage","message":"unknown option '--bogus'","hint":"vault --help lists the commands and flags"}}\n`);
    refused(await runInProcess(['get', '', '--json']), 2, '{"error":{"code":"usage","message":"empty secret name"}}\n');
    const missing = join(v.dir, 'missing.db');
    refused(
      await runInProcess(['list', '--json', '--vault', missing]),
      6,
      `${JSON.stringify({ error: { code: 'not-initialized', message: `no vault at ${missing}`, hint: 'create one with: vault init' } })}\n`,
    );
    refused(await runInProcess(['--json', 'get', 'A'], { env: { ...v.passphraseEnv, VAULT_PASSPHRASE: 'wrong' } }), 5, '{"error":{"code":"auth-failed","message":"wrong passphrase or key"}}\n');
  });
});
