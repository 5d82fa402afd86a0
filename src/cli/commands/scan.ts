import type { Command } from 'commander';
import { checkExists, readSecrets, type ReadRequest } from '../../core/bulk.js';
import { VaultError } from '../../core/errors.js';
import { wipe } from '../../crypto/aead.js';
import type { IO } from '../io.js';
import { printable } from '../output.js';
import type { RunState } from '../program.js';
import { Session } from '../session.js';

interface ScanFlags {
  staged?: boolean;
  installHook?: boolean;
  force?: boolean;
}

export function register(program: Command, io: IO, state: RunState): void {
  program
    .command('scan')
    .description("find the namespace's stored values (and their base64, hex and URL-encoded forms) in files or in staged changes; prints FILE:LINE: NAME, never a value")
    .usage('[options] [PATHS…]')
    .argument('[paths...]', 'files and directories to scan (default: the current directory)')
    .option('--staged', 'scan what is staged for the next commit (git), instead of files')
    .option('--install-hook', 'add a git pre-commit hook that runs vault scan --staged')
    .option('--force', 'with --install-hook: replace a pre-commit hook vault did not write (kept as pre-commit.bak)')
    .addHelpText('after', '\nExit status: 0 when nothing was found, 1 when a stored value was found (or a file could not be read).')
    .action(async (paths: string[], flags: ScanFlags, cmd: Command) => {
      const s = new Session(io, cmd);
      const cwd = process.cwd();
      const scan = await import('../../scan/scan.js');
      if (flags.installHook) {
        if (flags.staged || paths.length > 0) throw new VaultError('usage', '--install-hook takes no paths and no --staged');
        // The hook names the same vault and namespace when they were given here.
        const args: string[] = [];
        if (s.opts.vault !== undefined) args.push('--vault', s.opts.vault);
        if (s.opts.ns !== undefined) args.push('--ns', s.ns);
        const { path, result } = scan.installHook(cwd, s.env, args, flags.force === true);
        s.info(result === 'unchanged' ? `${path} is already installed` : `${result} ${path}`);
        return;
      }
      if (flags.force) throw new VaultError('usage', '--force goes with --install-hook');
      if (flags.staged && paths.length > 0) throw new VaultError('usage', '--staged takes no paths', { hint: 'vault scan PATHS… scans files as they are on disk' });

      const targets = paths.length === 0 ? ['.'] : paths;
      // Bad paths and a missing repository are refused before anyone is asked to unlock.
      if (flags.staged) scan.gitTop(cwd, s.env);
      else scan.checkPaths(targets, cwd);
      const request: ReadRequest = { op: 'scan', ns: s.ns, select: {}, allowExpired: true, detail: flags.staged ? { staged: true } : { paths: paths.length === 0 ? 1 : paths.length } };
      // An expired value is looked for too: leaked, it is still someone's credential.
      const scanner = await s.withVault(false, async (vault) => {
        checkExists(vault, request);
        await s.unlock(vault);
        return readSecrets(vault, request, (r) => {
          try {
            return new scan.SecretScanner(r.secrets);
          } finally {
            wipe(...r.secrets.map((x) => x.value));
          }
        });
      });
      if (scanner.skipped.length > 0) s.warn(`not looked for (shorter than 4 bytes): ${scanner.skipped.join(', ')}`);
      const report = flags.staged ? scan.scanStaged(scanner, cwd, s.env) : scan.scanPaths(scanner, targets, cwd);
      for (const u of report.unreadable) s.warn(`cannot read ${printable(u.file)}: ${u.reason}`);
      if (s.json) {
        s.outJson({ findings: report.findings.map((f) => ({ file: f.file, line: f.line, ns: f.ns, name: f.name, form: f.form })), files: report.files, unreadable: report.unreadable });
      } else {
        s.out(report.findings.map((f) => `${printable(f.file)}:${f.line}: ${f.name}\n`).join(''));
      }
      if (report.findings.length > 0) {
        const places = report.findings.length;
        if (!s.json) s.info(`vault: ${places} stored ${places === 1 ? 'value' : 'values'} found in ${new Set(report.findings.map((f) => f.file)).size} of ${report.files} files; remove them, and rotate any that was committed or shared (vault rotate NAME)`);
        state.status = 1;
      } else if (report.unreadable.length > 0) {
        state.status = 1;
      } else if (!s.json) {
        s.info(`vault: no stored value found in ${report.files} ${report.files === 1 ? 'file' : 'files'}`);
      }
    });
}
