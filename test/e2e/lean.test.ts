import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { freshVault, ROOT, runCommand, BIN } from '../helpers/cli.js';

/** Modules that `vault get` in a script has no use for: each costs start-up time (the MCP SDK and its zod and ajv too). */
const HEAVY = ['@inquirer', 'cli-table3', '@napi-rs/keyring', 'chalk', '@modelcontextprotocol', 'zod', 'ajv'];

test('vault get in a script loads no prompt, table, keychain or colour module', async () => {
  const v = await freshVault();
  try {
    const put = await runCommand(process.execPath, [BIN, 'put', 'TOKEN'], { env: v.env, input: 'abc123\n' });
    assert.equal(put.status, 0, put.stderr);
    const trace = join(v.dir, 'imports.txt');
    const get = await runCommand(process.execPath, ['--import', join(ROOT, 'test', 'fixtures', 'trace-imports.mjs'), BIN, 'get', 'TOKEN'], {
      env: { ...v.env, TRACE_IMPORTS_FILE: trace },
    });
    assert.equal(get.status, 0, get.stderr);
    assert.equal(get.out, 'abc123');
    const loaded = readFileSync(trace, 'utf8').split('\n').filter(Boolean);
    assert.ok(loaded.some((u) => u.includes('/dist/cli/main.js')), 'the trace saw the program load');
    assert.deepEqual(loaded.filter((u) => HEAVY.some((h) => u.includes(`/node_modules/${h}`))), []);
  } finally {
    v.cleanup();
  }
});
