import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { editorScript } from '../../src/cli/commands/edit.js';
import { baseEnv, BIN, freshVault, runInProcess, runVault } from '../helpers/cli.js';
import { seed } from '../helpers/seed.js';
import { auditLog, exec, rowsSnapshot, snapshot } from '../helpers/sqlite.js';

type Fixture = Awaited<ReturnType<typeof freshVault>>;

async function withVault(secrets: Record<string, string>, fn: (v: Fixture) => Promise<void>): Promise<void> {
  const v = await freshVault();
  try {
    if (Object.keys(secrets).length > 0) await seed(v, secrets);
    await fn(v);
  } finally {
    v.cleanup();
  }
}

// ---- vault mv ------------------------------------------------------------------------------

test('vault mv renames a secret; its versions and history go with it, audited, and the old name is gone', async () => {
  await withVault({ A: 'value-1' }, async (v) => {
    await seed(v, { A: 'value-2' });
    let r = await runInProcess(['__complete', '--', 'mv', ''], { env: v.env });
    assert.equal(r.out, 'values\nA\n', 'completion offers the names for OLD');
    r = await runInProcess(['mv', 'A', 'B'], { env: v.env });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.out, '');
    assert.equal(r.stderr, 'moved default/A to default/B\n');
    r = await runInProcess(['get', 'B'], { env: v.env });
    assert.equal(r.out, 'value-2');
    r = await runInProcess(['get', 'B', '--version', '1'], { env: v.env });
    assert.equal(r.out, 'value-1');
    r = await runInProcess(['get', 'A'], { env: v.env });
    assert.equal(r.status, 3);
    assert.equal(r.stderr.split('\n')[0], 'vault: error: no secret default/A');
    r = await runInProcess(['list'], { env: v.env });
    assert.equal(r.out, 'B\n');
    const mv = auditLog(v.path).filter((e) => e.op === 'mv');
    assert.deepEqual(mv, [{ op: 'mv', ns: 'default', name: 'A', outcome: 'ok', detail: { to: 'default/B' } }]);
    r = await runInProcess(['audit', 'verify'], { env: v.env });
    assert.equal(r.status, 0, r.stderr);

    // across namespaces, and a bare NEW stays in OLD's namespace
    r = await runInProcess(['mv', 'B', 'prod/C', '--json'], { env: v.env });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.out), { from: { ns: 'default', name: 'B' }, to: { ns: 'prod', name: 'C' }, version: 2 });
    r = await runInProcess(['mv', 'prod/C', 'D'], { env: v.env });
    assert.equal(r.stderr, 'moved prod/C to prod/D\n');
    r = await runInProcess(['history', 'prod/D'], { env: v.env });
    assert.match(r.out, /^1\t\S+\tput\n2\t\S+\tput\tcurrent\n$/);
  });
});

test('vault mv refuses a NEW that exists or was removed (exit 8), an unknown OLD (exit 3) and the same name (exit 2), changing nothing', async () => {
  await withVault({ A: 'a', B: 'b', GONE: 'g' }, async (v) => {
    let r = await runInProcess(['rm', 'GONE', '--yes'], { env: v.env });
    assert.equal(r.status, 0, r.stderr);
    const before = rowsSnapshot(v.path);
    r = await runInProcess(['mv', 'A', 'B'], { env: v.env });
    assert.equal(r.status, 8);
    assert.equal(r.stderr, 'vault: error: secret default/B already exists\nvault: hint: choose another name, or move that one away first (vault mv default/B NEW)\n');
    r = await runInProcess(['mv', 'A', 'GONE'], { env: v.env });
    assert.equal(r.status, 8);
    assert.equal(r.stderr, 'vault: error: the name default/GONE belongs to a removed secret\nvault: hint: a removed or purged secret keeps its name (its history, vault rollback); choose another name\n');
    r = await runInProcess(['mv', 'NOPE', 'C'], { env: v.env });
    assert.equal(r.status, 3);
    assert.equal(r.stderr, 'vault: error: no secret default/NOPE\nvault: hint: vault list shows the stored names\n');
    r = await runInProcess(['mv', 'A', 'default/A'], { env: v.env });
    assert.equal(r.status, 2);
    assert.equal(r.stderr, 'vault: error: default/A and default/A are the same secret\n');
    r = await runInProcess(['mv', 'A', 'bad name'], { env: v.env });
    assert.equal(r.status, 2);
    assert.equal(rowsSnapshot(v.path), before);
  });
});

test('attack: a file writer who renames a moved secret back in the file is refused (exit 7)', async () => {
  await withVault({ A: 'value-a' }, async (v) => {
    let r = await runInProcess(['mv', 'A', 'B'], { env: v.env });
    assert.equal(r.status, 0, r.stderr);
    // The row MAC binds the name: undoing the move without the key is tampering.
    exec(v.path, "UPDATE secrets SET name = 'A' WHERE name = 'B'");
    r = await runInProcess(['get', 'A'], { env: v.env });
    assert.equal(r.status, 7);
    assert.equal(r.out, '');
    assert.ok(!r.stderr.includes('value-a'));
  });
});

// ---- vault edit ----------------------------------------------------------------------------

/** An editor script: records its arguments and the file's and directory's modes, then runs `body`. */
function editor(v: Fixture, body: string): { env: Record<string, string>; log: string } {
  const script = join(v.dir, 'editor.sh');
  const log = join(v.dir, 'editor.log');
  writeFileSync(
    script,
    `#!/bin/sh\nfor last; do :; done\nprintf '%s\\n' "$#" "$@" > '${log}'\nstat -c '%a' "$last" "$(dirname "$last")" >> '${log}'\n${body}\n`,
  );
  chmodSync(script, 0o755);
  return { env: { ...v.env, EDITOR: script, VISUAL: '' }, log };
}

test('vault edit: the value in $EDITOR through a 0600 file in a 0700 directory, removed afterwards; a change is a new version', async () => {
  await withVault({ A: 'old-value' }, async (v) => {
    const ed = editor(v, 'cp "$last" "$last.seen"; printf "new-value\\n" > "$last"');
    const r = await runVault(['edit', 'A'], { env: ed.env });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.out, '');
    assert.equal(r.stderr, 'stored default/A version 2\n');
    const [argc, file, fileMode, dirMode] = readFileSync(ed.log, 'utf8').split('\n');
    assert.deepEqual([argc, fileMode, dirMode], ['1', '600', '700']);
    assert.equal(existsSync(file!), false);
    assert.equal(existsSync(join(file!, '..')), false, 'the private directory is removed, with what the editor left in it');
    const g = await runInProcess(['get', 'A'], { env: v.env });
    assert.equal(g.out, 'new-value');
    const h = await runInProcess(['history', 'A'], { env: v.env });
    assert.match(h.out, /^1\t\S+\tput\n2\t\S+\tedit\tcurrent\n$/);
    const entry = auditLog(v.path).at(-2)!;
    assert.deepEqual(entry, { op: 'put', ns: 'default', name: 'A', outcome: 'ok', detail: { via: 'edit' } });
  });
});

test('vault edit: an unchanged value (with or without a trailing newline) stores nothing', async () => {
  await withVault({ A: 'one', PEM: '-----BEGIN KEY-----\nabc\n-----END KEY-----\n' }, async (v) => {
    const ed = editor(v, 'true');
    for (const name of ['A', 'PEM']) {
      const before = snapshot(v.path);
      const r = await runVault(['edit', name], { env: ed.env });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, `default/${name} is unchanged; nothing saved\n`);
      assert.equal(snapshot(v.path), before);
    }
    const pem = await runInProcess(['get', 'PEM'], { env: v.env });
    assert.equal(pem.out, '-----BEGIN KEY-----\nabc\n-----END KEY-----\n');
  });
});

test('vault edit: an editor that fails saves nothing and leaves no file; EDITOR is run through sh with its arguments', async () => {
  await withVault({ A: 'keep-me' }, async (v) => {
    const ed = editor(v, 'printf "changed" > "$last"; exit 3');
    let r = await runVault(['edit', 'A'], { env: ed.env });
    assert.equal(r.status, 1);
    assert.equal(r.stderr, `vault: error: the editor (${ed.env.EDITOR}) exited with status 3; nothing saved\nvault: hint: set VISUAL or EDITOR to the editor to use\n`);
    const file = readFileSync(ed.log, 'utf8').split('\n')[1]!;
    assert.equal(existsSync(join(file, '..')), false);
    r = await runInProcess(['get', 'A'], { env: v.env });
    assert.equal(r.out, 'keep-me');

    // "EDITOR --wait" as git runs it: sh -c '$EDITOR "$@"'; VISUAL wins over EDITOR
    const ok = editor(v, 'printf "via-visual" > "$last"');
    r = await runVault(['edit', 'A'], { env: { ...v.env, EDITOR: 'false', VISUAL: `${ok.env.EDITOR} --wait` } });
    assert.equal(r.status, 0, r.stderr);
    const [argc, flag] = readFileSync(ok.log, 'utf8').split('\n');
    assert.deepEqual([argc, flag], ['2', '--wait']);
    r = await runInProcess(['get', 'A'], { env: v.env });
    assert.equal(r.out, 'via-visual');

    // an emptied file is refused
    const empty = editor(v, ': > "$last"');
    r = await runVault(['edit', 'A'], { env: empty.env });
    assert.equal(r.status, 2);
    assert.equal(r.stderr, 'vault: error: the edited value of default/A is empty; nothing saved\nvault: hint: vault rm default/A removes a secret\n');

    // an unknown secret: exit 3 before any editor runs
    const marker = join(v.dir, 'ran');
    const none = editor(v, `touch '${marker}'`);
    r = await runVault(['edit', 'NOPE'], { env: none.env });
    assert.equal(r.status, 3);
    assert.equal(existsSync(marker), false);
  });
});

test('vault edit: SIGTERM to vault while the editor runs ends the editor, saves nothing and removes the file', async () => {
  await withVault({ A: 'steady' }, async (v) => {
    const started = join(v.dir, 'started');
    const pidFile = join(v.dir, 'editor.pid');
    const ed = editor(v, `printf changed > "$last"; echo $$ > '${pidFile}'; touch '${started}'; exec sleep 30`);
    const child = spawn(process.execPath, ['--inspect-port=[ff02::1]:9229', '--', BIN, 'edit', 'A'], { env: { ...baseEnv(v.dir), ...ed.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdin.end();
    for (let i = 0; i < 600 && !existsSync(started); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(existsSync(started), 'the editor started');
    const file = readFileSync(ed.log, 'utf8').split('\n')[1]!;
    assert.equal(existsSync(file), true);
    child.kill('SIGTERM');
    const status = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    assert.equal(status, 1);
    assert.equal(stderr, `vault: error: the editor (${ed.env.EDITOR}) exited with status 143; nothing saved\nvault: hint: set VISUAL or EDITOR to the editor to use\n`);
    assert.equal(existsSync(join(file, '..')), false);
    // the editor itself got the signal: no editor is left running on a removed file
    const pid = Number(readFileSync(pidFile, 'utf8'));
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' });
    const r = await runInProcess(['get', 'A'], { env: v.env });
    assert.equal(r.out, 'steady');
  });
});

test('vault edit: a plain editor command line is exec\'ed by sh; one that uses the shell runs as written', () => {
  assert.equal(editorScript('vi'), 'exec vi "$@"');
  assert.equal(editorScript('code --wait'), 'exec code --wait "$@"');
  assert.equal(editorScript("'/opt/my editor/bin/ed' -w"), `exec '/opt/my editor/bin/ed' -w "$@"`);
  assert.equal(editorScript('TERM=xterm vim'), 'TERM=xterm vim "$@"');
  assert.equal(editorScript('vim; echo done'), 'vim; echo done "$@"');
  assert.equal(editorScript('$HOME/bin/ed'), '$HOME/bin/ed "$@"');
});

// ---- aliases -------------------------------------------------------------------------------

test('run, set and delete are exec, put and rm, in help and in completion', async () => {
  await withVault({}, async (v) => {
    let r = await runInProcess(['set', 'TOKEN'], { env: v.env, input: 'tok-1\n' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, 'stored default/TOKEN version 1\n');
    r = await runVault(['run', '--', 'sh', '-c', 'printf %s "$TOKEN"'], { env: v.env });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.out, 'tok-1');
    r = await runInProcess(['delete', 'TOKEN'], { env: v.env });
    assert.equal(r.status, 2, 'delete asks like rm: --yes without a terminal');
    r = await runInProcess(['delete', 'TOKEN', '--yes'], { env: v.env });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, 'removed default/TOKEN; its versions are kept until vault rm --purge\n');

    r = await runInProcess(['--help'], { env: v.env });
    for (const usage of ['put|set [options] <name>', 'rm|delete [options] <name>', 'exec|run [options] [command...]', 'mv <old> <new>', 'edit <name>', 'check']) {
      assert.ok(r.out.includes(usage), `help shows ${usage}`);
    }
    r = await runInProcess(['__complete', '--', ''], { env: v.env });
    const words = r.out.split('\n').slice(1).map((l) => l.split('\t')[0]);
    for (const w of ['run', 'set', 'delete', 'exec', 'put', 'rm', 'mv', 'edit', 'check']) assert.ok(words.includes(w), `completes ${w}`);
    r = await runInProcess(['__complete', '--', 'ru'], { env: v.env });
    assert.equal(r.out, 'values\nrun\tsame as exec: run a command with the namespace\'s secrets in its environment\n');
    r = await runInProcess(['__complete', '--', 'run', '--only', 'A', '--', 'ls', '-'], { env: v.env });
    assert.equal(r.out, 'delegate 5\n');
  });
});
