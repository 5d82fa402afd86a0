import { Argument, type Command } from 'commander';
import { DEFAULT_NS, isValidNamespace } from '../../core/names.js';
import { Vault } from '../../core/vault.js';
import { defaultVaultPath } from '../../store/paths.js';
import { complete, renderCompletion, type NameSource } from '../complete.js';
import type { IO } from '../io.js';
import type { RunState } from '../program.js';

/**
 * `vault completion bash|zsh|fish` prints a script; the script asks the hidden
 * `vault __complete -- WORDS…` what to offer (see ../complete.ts), so the three shells share
 * one implementation and always match the commands and flags of this binary.
 */

const BASH = `# vault completion for bash.
# Load it in this shell:   eval "$(vault completion bash)"
# For every new shell:     vault completion bash > ~/.local/share/bash-completion/completions/vault
_vault() {
    local cur="\${COMP_WORDS[COMP_CWORD]}" out directive line
    out=$(vault __complete -- "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) || return 0
    directive=\${out%%$'\\n'*}
    COMPREPLY=()
    case "$directive" in
        files)
            compopt -o filenames 2>/dev/null
            while IFS= read -r line; do COMPREPLY+=("$line"); done < <(compgen -f -- "$cur")
            return 0 ;;
        delegate\\ *)
            local n=\${directive#delegate }
            if declare -F _command_offset >/dev/null; then
                _command_offset "$n"
            elif (( COMP_CWORD == n )); then
                while IFS= read -r line; do COMPREPLY+=("$line"); done < <(compgen -c -- "$cur")
            else
                compopt -o filenames 2>/dev/null
                while IFS= read -r line; do COMPREPLY+=("$line"); done < <(compgen -f -- "$cur")
            fi
            return 0 ;;
        nospace)
            compopt -o nospace 2>/dev/null ;;
    esac
    [[ $out == *$'\\n'* ]] || return 0
    while IFS= read -r line; do
        [[ -n $line ]] && COMPREPLY+=("\${line%%$'\\t'*}")
    done <<< "\${out#*$'\\n'}"
    return 0
}
complete -F _vault vault
`;

const ZSH = `#compdef vault
# vault completion for zsh.
# Load it in this shell (after compinit):  eval "$(vault completion zsh)"
# For every new shell:  vault completion zsh > "\${fpath[1]}/_vault"   (then restart zsh)
_vault() {
    local out directive line n
    local -a lines vals descs
    out=$(vault __complete -- "\${(@)words[2,CURRENT]}" 2>/dev/null) || return 1
    lines=("\${(@f)out}")
    directive=\${lines[1]}
    case $directive in
        files) _files; return ;;
        delegate\\ *)
            n=\${directive#delegate }
            words=("\${(@)words[n+1,-1]}")
            (( CURRENT = CURRENT - n ))
            _normal
            return ;;
    esac
    for line in "\${(@)lines[2,-1]}"; do
        [[ -z $line ]] && continue
        vals+=("\${line%%$'\\t'*}")
        if [[ $line == *$'\\t'* ]]; then
            descs+=("\${line%%$'\\t'*}  -- \${line#*$'\\t'}")
        else
            descs+=("$line")
        fi
    done
    (( \${#vals} )) || return 1
    if [[ $directive == nospace ]]; then
        compadd -S '' -l -d descs -- "\${vals[@]}"
    else
        compadd -l -d descs -- "\${vals[@]}"
    fi
}
if [[ "\${funcstack[1]}" == _vault ]]; then
    _vault "$@"
else
    compdef _vault vault
fi
`;

const FISH = `# vault completion for fish.
# Load it in this shell:  vault completion fish | source
# For every new shell:    vault completion fish > ~/.config/fish/completions/vault.fish
function __vault_complete
    set -l cur (commandline -ct)
    set -l tokens (commandline -opc) "$cur"
    set -l out (vault __complete -- $tokens[2..-1] 2>/dev/null)
    or return
    switch "$out[1]"
        case files
            __fish_complete_path "$cur"
        case 'delegate *'
            set -l n (string replace 'delegate ' '' -- "$out[1]")
            set -l sub $tokens[(math $n + 1)..-1]
            complete -C (string join ' ' -- (string escape -- $sub[1..-2]) "$cur")
        case '*'
            printf '%s\\n' $out[2..-1]
    end
end
complete -c vault -f -a '(__vault_complete)'
`;

export const SCRIPTS = { bash: BASH, zsh: ZSH, fish: FISH } as const;

/** Names and namespaces straight from the vault file: no key, no error output. */
function fileNames(io: IO): NameSource {
  const open = (path: string | undefined): Vault | null => {
    try {
      return Vault.open(path ?? defaultVaultPath(io.env));
    } catch {
      return null;
    }
  };
  const read = <T>(path: string | undefined, fn: (v: Vault) => T, none: T): T => {
    const vault = open(path);
    if (!vault) return none;
    try {
      return fn(vault);
    } catch {
      return none;
    } finally {
      vault.close();
    }
  };
  const defaultNs = (): string => io.env.VAULT_NS || DEFAULT_NS;
  return {
    defaultNs,
    names: (where, ns) => {
      const space = ns ?? defaultNs();
      if (!isValidNamespace(space)) return [];
      return read(where.vault, (v) => v.list({ ns: space }).map((i) => i.name), []);
    },
    namespaces: (where) => read(where.vault, (v) => [...new Set(v.list().map((i) => i.ns))], []),
  };
}

export function register(program: Command, io: IO, state: RunState): void {
  program
    .command('completion')
    .description('print a shell completion script: eval "$(vault completion bash)"')
    .addArgument(new Argument('<shell>', 'bash, zsh or fish').choices(['bash', 'zsh', 'fish']))
    .action((shell: keyof typeof SCRIPTS) => {
      io.stdout.write(SCRIPTS[shell]);
    });

  program
    .command('__complete', { hidden: true })
    .description('completion candidates for the words after --, for the completion scripts')
    .argument('[words...]')
    .action((words: string[]) => {
      const typed = state.rest ?? words;
      io.stdout.write(renderCompletion(complete(program, typed.length === 0 ? [''] : typed, fileNames(io))));
    });
}
