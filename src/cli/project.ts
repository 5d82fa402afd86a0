import { VaultError } from '../core/errors.js';
import { checkNamespace, DEFAULT_NS } from '../core/names.js';
import { checkProject, findProject, type Project, type ProjectCheck } from '../core/project.js';
import type { Vault } from '../core/vault.js';
import type { Session } from './session.js';

/** The namespace a project-aware command (exec, env, export, inject) uses, and the project file in force. */
export interface ProjectScope {
  ns: string;
  /** the project file in force: null when there is none, or when --ns was given */
  project: Project | null;
}

/**
 * --ns, else the project file's namespace, else $VAULT_NS, else `default`. The project file is
 * read only here (only by the commands that use it: never by `get`), and not at all with --ns.
 * When it chooses the namespace, a notice on stderr says so (not with --quiet): a project file
 * comes with a repository, and which namespace a command reads must never be a surprise.
 */
export function projectScope(s: Session, cwd: string = process.cwd()): ProjectScope {
  if (s.opts.ns !== undefined) return { ns: checkNamespace(s.opts.ns), project: null };
  const project = findProject(cwd);
  if (project?.namespace) {
    s.info(`vault: namespace ${project.namespace} (from ${project.file})`);
    return { ns: project.namespace, project };
  }
  return { ns: checkNamespace(s.env.VAULT_NS || DEFAULT_NS), project };
}

/** The project's secrets against the namespace's current ones, read without unlocking (names only). */
export function compareProject(vault: Vault, project: Project, ns: string): ProjectCheck {
  const current = new Map(vault.list({ ns }).map((x) => [x.name, x.expired]));
  return checkProject(project, ns, current);
}

/** `vault exec` refuses to start while a required secret is missing: not-found, every name listed. */
export function requireProject(vault: Vault, project: Project, ns: string): void {
  const { missing } = compareProject(vault, project, ns);
  if (missing.length === 0) return;
  const list = missing.join(', ');
  throw new VaultError('not-found', `missing ${missing.length === 1 ? 'a required secret' : `${missing.length} required secrets`} of ${project.file} in namespace ${ns}: ${list}`, {
    hint: `store ${missing.length === 1 ? 'it' : 'each'} with: vault put ${ns}/${missing[0]}; vault check lists what is missing`,
  });
}
