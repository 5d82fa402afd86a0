import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { freshVault, runInProcess, runVault } from '../helpers/cli.js';

/**
 * `vault exec --env-file F` refuses a malformed file with exit 2 and a message that names the
 * file, the line and (when it is a valid name) the variable, and never any other text of the
 * file: a malformed reference or a mistyped line may be a pasted secret.
 */

const MARKER = 's3cr3t-MARKER';
const REF_HINT = 'vault: hint: a reference is vault://NS/NAME or vault://NAME, optionally followed by @VERSION (a whole number from 1)\n';
const LINE_HINT = 'vault: hint: an env file holds NAME=VALUE lines; values may be vault://NS/NAME[@VERSION] references\n';

const CASES: ReadonlyArray<{ what: string; text: string; error: (file: string) => string }> = [
  { what: 'a space in the namespace', text: `A=1\nTOKEN=vault://bad ${MARKER}/X\n`, error: (f) => `vault: error: ${f}:2: the value of TOKEN is not a valid vault:// reference\n${REF_HINT}` },
  { what: 'an empty name', text: `TOKEN=vault://${MARKER}/\n`, error: (f) => `vault: error: ${f}:1: the value of TOKEN is not a valid vault:// reference\n${REF_HINT}` },
  { what: 'a version that is not a number', text: `TOKEN=vault://X@${MARKER}\n`, error: (f) => `vault: error: ${f}:1: the value of TOKEN is not a valid vault:// reference\n${REF_HINT}` },
  { what: 'an invalid name', text: `TOKEN=vault://ns/${MARKER}\n`, error: (f) => `vault: error: ${f}:1: the value of TOKEN is not a valid vault:// reference\n${REF_HINT}` },
  { what: 'a reference under a key that is no variable name', text: `${MARKER}=vault://bad ref\n`, error: (f) => `vault: error: ${f}:1: the value is not a valid vault:// reference\n${REF_HINT}` },
  { what: 'a NUL byte', text: `TOKEN=${MARKER}\0tail\n`, error: (f) => `vault: error: ${f}:1: the value of TOKEN holds a NUL byte, which an environment variable cannot carry\n` },
  { what: 'a NUL byte under a key that is no variable name', text: `${MARKER}=a\0b\n`, error: (f) => `vault: error: ${f}:1: the value holds a NUL byte, which an environment variable cannot carry\n` },
  { what: 'an unterminated quote on a line without a key', text: `A=1\n"${MARKER}\n`, error: (f) => `vault: error: ${f}:2: not a NAME=VALUE line\n${LINE_HINT}` },
  { what: 'a line of text', text: `${MARKER} is the password\nB=2\n`, error: (f) => `vault: error: ${f}:1: not a NAME=VALUE line\n${LINE_HINT}` },
];

test('--env-file errors name file, line and variable, never the text of the file (also with --debug and --json)', async () => {
  const v = await freshVault();
  try {
    const ran = join(v.dir, 'ran');
    const run = ['--', process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(ran)}, '')`];
    for (const [i, c] of CASES.entries()) {
      const file = join(v.dir, `case${i}.env`);
      writeFileSync(file, c.text);
      const r = await runInProcess(['exec', '--env-file', file, ...run], { env: v.env });
      assert.equal(r.status, 2, `${c.what}: ${r.stderr}`);
      assert.equal(r.stderr, c.error(file), c.what);
      assert.equal(r.out, '');
      for (const flag of ['--debug', '--json']) {
        const d = await runInProcess([flag, 'exec', '--env-file', file, ...run], { env: v.env });
        assert.equal(d.status, 2, `${c.what} ${flag}: ${d.stderr}`);
        assert.ok(!d.stderr.includes('MARKER'), `${c.what} ${flag}: ${d.stderr}`);
        assert.equal(d.out, '');
      }
    }
    assert.equal(existsSync(ran), false);
  } finally {
    v.cleanup();
  }
});

test('an unterminated quote is no error: as in dotenv the value is read as written, and no message shows it', async () => {
  const v = await freshVault();
  try {
    const file = join(v.dir, 'quote.env');
    writeFileSync(file, `TOKEN="vault://bad ${MARKER}\n`);
    const r = await runVault(['exec', '--env-file', file, '--', process.execPath, '-e', 'process.stdout.write(process.env.TOKEN)'], { env: v.env });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.equal(r.out, `"vault://bad ${MARKER}`);
  } finally {
    v.cleanup();
  }
});
