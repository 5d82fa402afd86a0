import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { freshVault, runVault } from '../helpers/cli.js';
import { seed } from '../helpers/seed.js';

test('exec --mask: the value and its base64, base64url, hex and URL-encoded forms, each split across writes 50 ms apart', async () => {
  const value = 'Pa55 w0rd/with+sym=bols&more?';
  const v = await freshVault();
  try {
    await seed(v, { DB_PASS: value, OTHER: 'another-secret-value' });
    const writer = join(v.dir, 'writer.cjs');
    writeFileSync(
      writer,
      `const t = process.env.DB_PASS;
       const b = Buffer.from(t);
       const forms = [t, b.toString('base64'), b.toString('base64url'), b.toString('hex'), b.toString('hex').toUpperCase(),
         encodeURIComponent(t), encodeURIComponent(t).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()), new URLSearchParams({ p: t }).toString().slice(2),
         Buffer.from('user:' + t).toString('base64')];
       const lines = forms.map((f, i) => 'form ' + i + ': ' + f + ' end\\n');
       let i = 0;
       const next = () => {
         if (i === lines.length) return;
         const line = lines[i++];
         const cut = Math.floor(line.length / 2) + 1;
         process.stdout.write(line.slice(0, cut));
         setTimeout(() => { process.stdout.write(line.slice(cut)); setTimeout(next, 10); }, 50);
       };
       next();`,
    );
    const r = await runVault(['exec', '--mask', '--', process.execPath, writer], { env: v.env });
    assert.equal(r.status, 0, r.stderr);
    const basic = Buffer.from(`user:${value}`).toString('base64');
    assert.equal(
      r.out,
      [0, 1, 2, 3, 4, 5, 6, 7].map((i) => `form ${i}: ***** end\n`).join('') + `form 8: ${basic.slice(0, Math.ceil((5 * 8) / 6))}***** end\n`,
    );
    assert.equal(r.stderr, '');
  } finally {
    v.cleanup();
  }
});
