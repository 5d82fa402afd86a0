import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { freshVault, runInProcess } from '../helpers/cli.js';
import { exec, snapshot } from '../helpers/sqlite.js';

const MiB = 1024 * 1024;

let v: Awaited<ReturnType<typeof freshVault>>;
before(async () => {
  v = await freshVault();
});
after(() => v?.cleanup());

async function put(args: string[], input?: string | Buffer): Promise<Awaited<ReturnType<typeof runInProcess>>> {
  return runInProcess(['put', ...args], { env: v.env, ...(input !== undefined ? { input } : {}) });
}

async function getOk(args: string[]): Promise<Buffer> {
  const r = await runInProcess(['get', ...args], { env: v.env });
  assert.equal(r.stderr, '', `get ${args.join(' ')}`);
  assert.equal(r.status, 0);
  return r.stdout;
}

/** A refused put: exact status and stderr, nothing on stdout, the file's secrets untouched. */
async function putRefused(args: string[], input: string | Buffer | undefined, status: number, stderr: string): Promise<void> {
  const before = snapshot(v.path, { lastUsed: true });
  const r = await put(args, input);
  assert.equal(r.stderr, stderr, `put ${args.join(' ')}`);
  assert.equal(r.status, status);
  assert.equal(r.out, '');
  assert.equal(snapshot(v.path, { lastUsed: true }), before, 'nothing written');
}

function listJson(): Promise<Array<{ ns: string; name: string; version: number; description: string | null; expires: string | null; expired: boolean }>> {
  return runInProcess(['list', '--json'], { env: { VAULT_PATH: v.path } }).then((r) => {
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.out);
  });
}

describe('put', () => {
  test('from stdin: exactly one trailing newline is stripped; --raw keeps it', async () => {
    const r = await put(['NL'], 'line\n');
    assert.equal(r.stderr, 'stored default/NL version 1\n');
    assert.equal(r.status, 0);
    assert.equal(r.out, '');
    assert.equal((await getOk(['NL'])).toString(), 'line');

    assert.equal((await put(['TWO'], 'two\n\n')).status, 0);
    assert.equal((await getOk(['TWO'])).toString(), 'two\n');

    assert.equal((await put(['RAW', '--raw'], 'raw\n')).status, 0);
    assert.equal((await getOk(['RAW'])).toString(), 'raw\n');
  });

  test('--from-file stores the exact bytes, binary with NUL and 0xff included; get returns them', async () => {
    const bin = Buffer.from([0x00, 0xff, 0x0a, 0x61, 0x00, 0xfe, 0x80, 0x0d, 0x0a]);
    const file = join(v.dir, 'bin.dat');
    writeFileSync(file, bin);
    const r = await put(['BIN', '--from-file', file]);
    assert.equal(r.stderr, 'stored default/BIN version 1\n');
    assert.equal(r.status, 0);
    assert.deepEqual(await getOk(['BIN']), bin);
    assert.deepEqual(await getOk(['BIN', '-n']), bin);

    const json = await runInProcess(['get', 'BIN', '--json'], { env: v.env });
    assert.equal(json.stderr, '');
    assert.equal(json.status, 0);
    assert.equal(json.out, `{"ns":"default","name":"BIN","version":1,"value":"${bin.toString('base64')}","encoding":"base64","expires":null}\n`);

    const missing = await put(['NOFILE', '--from-file', join(v.dir, 'missing.dat')]);
    assert.equal(missing.stderr, `vault: error: cannot read ${join(v.dir, 'missing.dat')}: no such file\n`);
    assert.equal(missing.status, 2);
  });

  test('an existing name without --force → 8 and unchanged; --force makes version 2; --version and --json read them', async () => {
    await putRefused(['NL'], 'other\n', 8, 'vault: error: secret default/NL already exists\nvault: hint: use --force to store a new version, or vault rotate\n');
    const r = await put(['NL', '--force'], 'line two ✓\n');
    assert.equal(r.stderr, 'stored default/NL version 2\n');
    assert.equal(r.status, 0);
    assert.equal((await getOk(['NL'])).toString(), 'line two ✓');
    assert.equal((await getOk(['NL', '--version', '1'])).toString(), 'line');
    const json = await runInProcess(['get', 'NL', '--json'], { env: v.env });
    assert.equal(json.out, '{"ns":"default","name":"NL","version":2,"value":"line two ✓","encoding":"utf8","expires":null}\n');
    assert.equal(json.status, 0);
    const old = await runInProcess(['--json', 'get', 'NL', '--version', '1'], { env: v.env });
    assert.equal(old.out, '{"ns":"default","name":"NL","version":1,"value":"line","encoding":"utf8","expires":null}\n');

    const none = await runInProcess(['get', 'NL', '--version', '7'], { env: v.env });
    assert.equal(none.stderr, 'vault: error: secret default/NL has no version 7\nvault: hint: vault history default/NL lists its versions\n');
    assert.equal(none.status, 3);
    assert.equal(none.out, '');
    const bad = await runInProcess(['get', 'NL', '--version', '0'], { env: v.env });
    assert.equal(bad.stderr, 'vault: error: invalid version "0"\nvault: hint: a version is a whole number from 1\n');
    assert.equal(bad.status, 2);
  });

  test('--description, --ttl and --expires are stored; --ttl with --expires → 2; a past --expires → 2', async () => {
    const t0 = Date.now();
    assert.equal((await put(['TTL', '--ttl', '30d', '--description', 'rotated monthly'], 'ttl-value')).status, 0);
    const t1 = Date.now();
    assert.equal((await put(['DATE', '--expires', '2099-01-31'], 'date-value')).status, 0);
    const items = await listJson();
    const ttl = items.find((i) => i.name === 'TTL')!;
    assert.equal(ttl.description, 'rotated monthly');
    assert.equal(ttl.expired, false);
    const at = Date.parse(ttl.expires!);
    assert.ok(at >= t0 + 30 * 86_400_000 && at <= t1 + 30 * 86_400_000, `expires ${ttl.expires}`);
    const date = items.find((i) => i.name === 'DATE')!;
    assert.equal(date.expires, '2099-01-31T00:00:00.000Z');
    assert.equal(date.description, null);
    assert.equal((await getOk(['DATE'])).toString(), 'date-value');

    await putRefused(['BOTH', '--ttl', '1d', '--expires', '2099-01-01'], 'x', 2, 'vault: error: --ttl and --expires cannot be used together\n');
    await putRefused(['PAST', '--expires', '2001-01-01'], 'x', 2, 'vault: error: --expires 2001-01-01 is in the past\n');
    await putRefused(['BADTTL', '--ttl', '3 days'], 'x', 2, 'vault: error: invalid duration "3 days"\nvault: hint: use a number and a unit: 45s, 90m, 12h, 30d or 2w\n');
    await putRefused(['BADDATE', '--expires', '2099-02-30'], 'x', 2, 'vault: error: invalid date "2099-02-30"\nvault: hint: use an ISO 8601 date such as 2027-01-31 or 2027-01-31T12:00:00Z\n');
  });

  test('an empty value → 2 and nothing written', async () => {
    // An empty pipe is most often `echo "$UNSET_VARIABLE" | vault put NAME`: the hint says so.
    const unset = 'vault: error: empty value for default/EMPTY on stdin; nothing was stored\nvault: hint: was the variable you piped unset or empty? echo "$TOKEN" | vault put NAME sends only a newline when TOKEN is unset\n';
    await putRefused(['EMPTY'], '', 2, unset);
    await putRefused(['EMPTY'], '\n', 2, unset);
    const file = join(v.dir, 'empty.dat');
    writeFileSync(file, '');
    await putRefused(['EMPTY', '--from-file', file], '', 2, `vault: error: empty value for default/EMPTY\nvault: hint: pipe the value on stdin, or use --from-file\n`);
  });

  test('exactly 1 MiB is accepted (also with a stripped newline); 1 MiB + 1 → 2 and nothing written', async () => {
    const big = randomBytes(MiB);
    const r = await put(['BIG', '--raw'], big);
    assert.equal(r.stderr, 'stored default/BIG version 1\n');
    assert.equal(r.status, 0);
    assert.deepEqual(await getOk(['BIG']), big);

    const withNewline = Buffer.concat([Buffer.alloc(MiB, 0x61), Buffer.from('\n')]);
    assert.equal((await put(['BIGNL'], withNewline)).status, 0);
    assert.deepEqual(await getOk(['BIGNL']), Buffer.alloc(MiB, 0x61));

    const tooBig = randomBytes(MiB + 1);
    tooBig[MiB] = 0x41; // not a newline, so nothing is stripped
    await putRefused(['HUGE'], tooBig, 2, 'vault: error: value is 1048577 bytes, more than the 1 MiB limit\n');
    await putRefused(['HUGE', '--raw'], Buffer.concat([Buffer.alloc(MiB, 0x62), Buffer.from('\n')]), 2, 'vault: error: value is 1048577 bytes, more than the 1 MiB limit\n');
    await putRefused(['HUGE'], Buffer.alloc(3 * MiB, 0x63), 2, 'vault: error: value is larger than the 1 MiB limit\n');
    const file = join(v.dir, 'huge.dat');
    writeFileSync(file, tooBig);
    await putRefused(['HUGE', '--from-file', file], undefined, 2, 'vault: error: value is 1048577 bytes, more than the 1 MiB limit\n');
    assert.equal((await listJson()).some((i) => i.name === 'HUGE'), false);
  });
});

describe('get', () => {
  test('expired → 9 with the expiry in the message; --allow-expired returns the value; list marks it expired', async () => {
    // A date-time two to three seconds ahead, whole seconds (as a user would type it).
    const at = new Date(Math.ceil((Date.now() + 2000) / 1000) * 1000);
    const text = at.toISOString().replace('.000Z', 'Z');
    const r = await put(['EXP', '--expires', text], 'soon-gone');
    assert.equal(r.status, 0, r.stderr);
    while (Date.now() <= at.getTime()) await sleep(Math.max(10, at.getTime() - Date.now() + 10));

    const get = await runInProcess(['get', 'EXP'], { env: v.env });
    assert.equal(get.stderr, `vault: error: secret default/EXP expired at ${at.toISOString()}\nvault: hint: store a new value with vault rotate, or pass --allow-expired\n`);
    assert.equal(get.status, 9);
    assert.equal(get.out, '');
    assert.equal((await getOk(['EXP', '--allow-expired'])).toString(), 'soon-gone');
    const json = await runInProcess(['get', 'EXP', '--allow-expired', '--json'], { env: v.env });
    assert.equal(json.out, `{"ns":"default","name":"EXP","version":1,"value":"soon-gone","encoding":"utf8","expires":"${at.toISOString()}"}\n`);
    const item = (await listJson()).find((i) => i.name === 'EXP')!;
    assert.equal(item.expired, true);
    assert.equal(item.expires, at.toISOString());
  });

  test('an expiry written into an older version applies to that version only', async () => {
    exec(v.path, `UPDATE versions SET expires_at = 1000 WHERE secret_id = (SELECT id FROM secrets WHERE name = 'NL') AND version = 1`);
    const old = await runInProcess(['get', 'NL', '--version', '1'], { env: v.env });
    assert.equal(old.stderr, 'vault: error: secret default/NL expired at 1970-01-01T00:00:01.000Z\nvault: hint: store a new value with vault rotate, or pass --allow-expired\n');
    assert.equal(old.status, 9);
    assert.equal((await getOk(['NL'])).toString(), 'line two ✓');
  });

  test('a missing secret → 3 before any unlocking (no passphrase needed)', async () => {
    const r = await runInProcess(['get', 'MISSING'], { env: { VAULT_PATH: v.path } });
    assert.equal(r.stderr, 'vault: error: no secret default/MISSING\nvault: hint: vault list shows the stored names\n');
    assert.equal(r.status, 3);
    assert.equal(r.out, '');
  });
});
