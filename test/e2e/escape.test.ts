import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { BIN, freshVault, runInProcess } from '../helpers/cli.js';
import { seed } from '../helpers/seed.js';
import { exec, query } from '../helpers/sqlite.js';

/**
 * Text stored in the vault file reaches the terminal through list, history, key list, status
 * and audit. Someone who can write the file can put control characters there (ESC and CSI
 * sequences that clear or rewrite the screen, newlines that forge lines): every human-readable
 * output shows them as visible escapes, and JSON output escapes them too (DEL and C1 included).
 */

/** ESC [2J (clear screen), CSI 31m (red, as one C1 character), TAB, LF, CR, DEL. */
const EVIL = 'X\u001b[2J\u009b31m\t\n\r\u007fY';
const SHOWN = 'X\\x1b[2J\\u009b31m\\t\\n\\r\\x7fY';
/** Control characters other than the TAB and LF that structure plain output. */
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

function clean(out: string, what: string): void {
  assert.doesNotMatch(out, RAW_CONTROL, `${what} printed a raw control character: ${JSON.stringify(out)}`);
}

async function evilVault(): Promise<Awaited<ReturnType<typeof freshVault>> & { slot: string }> {
  const v = await freshVault();
  await seed(v, { A: 'a1', B: 'b1' });
  exec(v.path, 'UPDATE secrets SET name = ?, description = ? WHERE name = ?', [EVIL, EVIL, 'B']);
  exec(v.path, 'UPDATE secrets SET description = ? WHERE name = ?', [EVIL, 'A']);
  exec(v.path, 'UPDATE versions SET origin = ? WHERE secret_id = (SELECT id FROM secrets WHERE name = ?)', [EVIL, 'A']);
  exec(v.path, "UPDATE slots SET label = ? WHERE kind = 'passphrase'", [EVIL]);
  exec(v.path, 'UPDATE audit SET op = ?, ns = ?, name = ?, outcome = ?, actor_user = ?, actor_parent = ?, detail = ? WHERE seq = 1', [
    EVIL,
    EVIL,
    EVIL,
    EVIL,
    EVIL,
    EVIL,
    JSON.stringify({ note: EVIL }),
  ]);
  const slot = query(v.path, "SELECT id FROM slots WHERE kind = 'passphrase'")[0]!.id as string;
  return { ...v, slot };
}

test('list, history, key list, status and audit in a pipe show stored control characters as escapes', async () => {
  const v = await evilVault();
  const env = { VAULT_PATH: v.path };
  try {
    const list = await runInProcess(['list'], { env });
    assert.equal(list.status, 0, list.stderr);
    assert.equal(list.out, `A\n${SHOWN}\n`);
    const all = await runInProcess(['list', '--all-ns'], { env });
    assert.equal(all.out, `default/A\ndefault/${SHOWN}\n`);

    const history = await runInProcess(['history', 'A'], { env });
    assert.equal(history.status, 0, history.stderr);
    assert.match(history.out, /^1\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z\t(.*)\tcurrent\n$/);
    assert.equal(history.out.split('\t')[2], SHOWN);

    const keys = await runInProcess(['key', 'list'], { env });
    assert.equal(keys.status, 0, keys.stderr);
    assert.equal(keys.out.split('\t').slice(0, 3).join('\t'), `${v.slot}\tpassphrase\t${SHOWN}`);

    const status = await runInProcess(['status'], { env });
    assert.equal(status.status, 0, status.stderr);
    assert.ok(status.out.split('\n').some((l) => l.startsWith(`  ${v.slot}  passphrase `) && l.endsWith(`  "${SHOWN}"`)), status.out);

    const audit = await runInProcess(['audit'], { env });
    assert.equal(audit.status, 0, audit.stderr);
    const first = audit.out.split('\n')[0]!.split('\t');
    assert.deepEqual(
      [first[2], first[3], first[5], first[6], first[8], first[9]],
      // detail is JSON: JSON.stringify already wrote ESC, TAB, LF and CR as \u001b, \t, \n, \r;
      // the C1 and DEL characters it leaves raw are escaped for display.
      [SHOWN, `${SHOWN}/${SHOWN}`, SHOWN, SHOWN, SHOWN, '{"note":"X\\u001b[2J\\u009b31m\\t\\n\\r\\x7fY"}'],
    );
    assert.equal(first.length, 11);

    for (const [what, r] of Object.entries({ list, all, history, keys, status, audit })) clean(r.out, what);
  } finally {
    v.cleanup();
  }
});

test('JSON output escapes DEL and C1 controls as \\u00XX too, and parses back to the exact stored text', async () => {
  const v = await evilVault();
  const env = { VAULT_PATH: v.path };
  try {
    const list = await runInProcess(['list', '--json'], { env });
    assert.equal(list.status, 0, list.stderr);
    assert.ok(list.out.includes('"X\\u001b[2J\\u009b31m\\t\\n\\r\\u007fY"'), list.out);
    const items = JSON.parse(list.out) as Array<{ name: string; description: string }>;
    assert.deepEqual(items.map((i) => [i.name, i.description]), [['A', EVIL], [EVIL, EVIL]]);

    const audit = await runInProcess(['audit', '--json'], { env });
    const entry = JSON.parse(audit.out.split('\n')[0]!) as { op: string; ns: string; name: string; detail: { note: string } };
    assert.deepEqual([entry.op, entry.ns, entry.name, entry.detail.note], [EVIL, EVIL, EVIL, EVIL]);

    const keys = await runInProcess(['key', 'list', '--json'], { env });
    assert.equal((JSON.parse(keys.out) as Array<{ label: string }>).find((s) => s.label !== null)!.label, EVIL);
    const status = await runInProcess(['status', '--json'], { env });
    const history = await runInProcess(['history', 'A', '--json'], { env });
    assert.equal((JSON.parse(history.out) as { versions: Array<{ origin: string }> }).versions[0]!.origin, EVIL);

    for (const [what, r] of Object.entries({ list, audit, keys, status, history })) {
      assert.equal(r.status, 0, `${what}: ${r.stderr}`);
      assert.doesNotMatch(r.out, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/, what);
    }
  } finally {
    v.cleanup();
  }
});

test('on a terminal, the tables of list, key list and audit show the escapes too', { skip: !existsSync('/usr/bin/script') }, async () => {
  const v = await evilVault();
  try {
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: v.dir, LANG: 'C.UTF-8', TERM: 'dumb', VAULT_PATH: v.path };
    for (const args of [['list'], ['key', 'list'], ['audit']]) {
      const line = [process.execPath, BIN, ...args].map((s) => `'${s}'`).join(' ');
      const r = spawnSync('/usr/bin/script', ['-qefc', line, '/dev/null'], { env, input: '', encoding: 'utf8' });
      assert.equal(r.status, 0, r.stdout);
      assert.ok(r.stdout.includes(SHOWN), `${args.join(' ')}: ${JSON.stringify(r.stdout)}`);
      // The terminal's own CR LF line ends are the only control characters.
      assert.doesNotMatch(r.stdout.replaceAll('\r\n', '\n'), RAW_CONTROL, args.join(' '));
    }
  } finally {
    v.cleanup();
  }
});
