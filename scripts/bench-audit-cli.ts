/**
 * BENCHMARK ONLY, not the vault binary: runs the CLI like bin/vault.js, except that with
 * `--no-audit` as its first argument every audit write is replaced by a no-op, so that
 * scripts/bench-audit.ts can time `vault get` with and without the audit entry. The shipped
 * program has no such switch.
 */
import { Vault } from '../src/core/vault.js';

const args = process.argv.slice(2);
if (args[0] === '--no-audit') {
  args.shift();
  Vault.prototype.record = function record(): void {};
}
const { run } = await import('../src/cli/main.js');
process.exitCode = await run(args);
