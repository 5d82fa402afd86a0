import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Command } from 'commander';
import { closest, editDistance, suggestCommand } from '../../src/cli/hints.js';
import { fitWidths } from '../../src/cli/render.js';

function program(words: string[]): Command {
  const p = new Command('vault');
  for (const w of words) p.command(w);
  p.command('__complete');
  return p;
}

test('suggestions: a synonym names the command that does the job, never the look-alike (set → put, not get)', () => {
  const p = program(['get', 'put', 'rm', 'list', 'exec']);
  assert.equal(suggestCommand('set', p), 'put');
  assert.equal(suggestCommand('delete', p), 'rm');
  assert.equal(suggestCommand('run', p), 'exec');
  assert.equal(suggestCommand('gte', p), 'get');
  assert.equal(suggestCommand('lisst', p), 'list');
  assert.equal(suggestCommand('frobnicate', p), undefined);
  // only real commands: a synonym whose command does not exist suggests nothing, hidden ones never
  assert.equal(suggestCommand('log', p), undefined);
  assert.equal(suggestCommand('__complet', p), undefined);
});

test('closest: case first, then one edit for short words and two for longer ones', () => {
  assert.deepEqual(closest('github_token', ['GITHUB_TOKEN', 'GITHUB_TOKEN2']), ['GITHUB_TOKEN']);
  assert.deepEqual(closest('GITHUB_TOKN', ['GITHUB_TOKEN', 'NPM_TOKEN']), ['GITHUB_TOKEN']);
  assert.deepEqual(closest('AB', ['XY']), []);
  assert.deepEqual(closest('DB_URL', ['DB_URI', 'DB_URX']), ['DB_URI', 'DB_URX']);
  assert.equal(editDistance('ab', 'ba'), 1);
  assert.equal(editDistance('kitten', 'sitting'), 3);
});

test('fitWidths: only the wrapped columns give up cells, the widest first, never under 6', () => {
  assert.deepEqual(fitWidths([4, 10, 30], new Set([2]), 80), [4, 10, 30]);
  assert.deepEqual(fitWidths([4, 10, 30], new Set([2]), 30), [4, 10, 12]);
  assert.deepEqual(fitWidths([4, 20, 20], new Set([1, 2]), 30), [4, 11, 11]);
  assert.deepEqual(fitWidths([40, 10], new Set([1]), 20), [40, 6]);
});
