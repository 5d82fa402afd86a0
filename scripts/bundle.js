#!/usr/bin/env node
// Bundles the CLI (our modules and commander) into dist/cli/, one chunk per command module,
// so that start-up reads a handful of files instead of some thirty: `vault get` is a
// start-up-bound command (see npm run bench). Native and rarely used packages stay external:
// better-sqlite3 and @napi-rs/keyring load native addons; @inquirer/prompts and cli-table3 are
// imported lazily, only at a terminal. The library API (dist/src/index.js) is not bundled.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

// Chunk names carry content hashes: clear the old ones so stale chunks never pile up.
rmSync('dist/cli', { recursive: true, force: true });

await build({
  // The session agent (src/agent/agent.ts) is its own entry: `vault unlock` starts it as
  // dist/cli/agent.js, next to the chunk that spawns it.
  entryPoints: { main: 'dist/src/cli/main.js', agent: 'dist/src/agent/agent.js' },
  outdir: 'dist/cli',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // @modelcontextprotocol/sdk (vault mcp only) is imported at run time by src/mcp/server.ts.
  external: ['better-sqlite3', '@napi-rs/keyring', '@inquirer/prompts', 'cli-table3', '@modelcontextprotocol/sdk'],
  // commander is CommonJS and calls require(); an ES module bundle needs a real require.
  banner: { js: "import { createRequire as __vaultCreateRequire } from 'node:module'; const require = __vaultCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
