import type { Command } from 'commander';
import { VaultError } from '../../core/errors.js';
import { PROJECT_FILE } from '../../core/project.js';
import type { IO } from '../io.js';
import { printable } from '../output.js';
import type { RunState } from '../program.js';
import { compareProject, projectScope } from '../project.js';
import { findProject } from '../../core/project.js';
import { Session } from '../session.js';

/**
 * `vault check`: the secrets the project file declares that the namespace lacks. Reads names
 * only (no unlocking, no value, no audit entry, as `list`). Exit 0 when every required secret
 * is present, 3 when one is missing, 9 when one has expired (and none is missing).
 */
export function register(program: Command, io: IO, state: RunState): void {
  program
    .command('check')
    .description(`list the secrets the project file (${PROJECT_FILE}) requires that are missing`)
    .action(async (_flags: Record<string, never>, cmd: Command) => {
      const s = new Session(io, cmd);
      const scope = projectScope(s);
      // With --ns the project file still says what is needed; it is checked against that namespace.
      const project = scope.project ?? findProject(process.cwd());
      if (!project) {
        throw new VaultError('usage', `no project file: no ${PROJECT_FILE} in this directory or above it (up to the repository's root)`, {
          hint: 'see "The project file" in the README',
        });
      }
      const ns = scope.ns;
      const result = await s.withVault(false, (vault) => compareProject(vault, project, ns));
      state.status = result.missing.length > 0 ? 3 : result.expired.length > 0 ? 9 : 0;
      if (s.json) {
        s.outJson({
          file: project.file,
          ns,
          ok: state.status === 0,
          missing: result.missing,
          expired: result.expired,
          secrets: result.secrets.map((x) => ({ name: x.name, required: x.required, description: x.description, present: x.present, expired: x.expired })),
        });
        return;
      }
      for (const x of result.secrets) {
        if (x.present && !x.expired) continue;
        const what = `${x.present ? 'expired' : 'missing'} ${x.required ? 'required' : 'optional'}`;
        s.out(`${x.name}\t${what}${x.description === null ? '' : `\t${printable(x.description)}`}\n`);
      }
      const total = result.secrets.length;
      const absent = result.secrets.filter((x) => !x.present).length;
      const lapsed = result.secrets.filter((x) => x.present && x.expired).length;
      if (absent === 0 && lapsed === 0) s.info(`all ${total} secret${total === 1 ? '' : 's'} of ${project.file} are in namespace ${ns}`);
      else {
        const parts = [absent > 0 ? `${absent} missing` : '', lapsed > 0 ? `${lapsed} expired` : ''].filter(Boolean).join(', ');
        s.info(`${parts} of ${total} secret${total === 1 ? '' : 's'} of ${project.file} in namespace ${ns}${result.missing.length > 0 ? `; store one with: vault put ${ns}/${result.missing[0]}` : ''}`);
      }
    });
}
