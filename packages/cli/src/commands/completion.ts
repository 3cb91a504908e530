import type { Command, Option } from 'commander';
import type { AgentView } from '@aiflock/protocol';
import { CliError, type ApiClient } from '../client.js';
import { EXIT } from '../exit-codes.js';
import { println } from '../output.js';

/*
 * Shell completion, as kubectl and docker do it: the script a shell sources is small and
 * asks `aiflock __complete <words>` for the candidates, so it never goes stale when commands
 * change. Candidates are printed one a line as `word<TAB>description`.
 */
const SCRIPTS: Record<string, (bin: string) => string> = {
  bash: () => `# aiflock completion for bash: source <(aiflock completion bash)
_aiflock() {
  local IFS=$'\\n'
  local words=("\${COMP_WORDS[@]:1:COMP_CWORD}")
  COMPREPLY=($(compgen -W "$("\${COMP_WORDS[0]}" __complete -- "\${words[@]}" 2>/dev/null | cut -f1)" -- "\${COMP_WORDS[COMP_CWORD]}"))
}
complete -o default -F _aiflock aiflock ./aiflock
`,
  zsh: () => `#compdef aiflock
# aiflock completion for zsh: source <(aiflock completion zsh)  (after compinit)
_aiflock() {
  local -a lines described
  lines=("\${(@f)$("\${words[1]}" __complete -- "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  local line
  for line in $lines; do
    [[ -n $line ]] && described+=("\${\${line%%$'\\t'*}//:/\\\\:}:\${line#*$'\\t'}")
  done
  _describe 'aiflock' described
}
compdef _aiflock aiflock
`,
  fish: () => `# aiflock completion for fish: aiflock completion fish | source
complete -c aiflock -f -a '(aiflock __complete -- (commandline -opc)[2..-1] (commandline -ct))'
`,
};

export function completionCommands(program: Command, client: () => ApiClient): void {
  program
    .command('completion')
    .description('print a shell completion script: bash, zsh or fish (e.g. source <(aiflock completion bash))')
    .argument('<shell>', 'bash, zsh or fish')
    .action((shell: string) => {
      const script = SCRIPTS[shell];
      if (!script) throw new CliError(`no completion for "${shell}"; use bash, zsh or fish`, EXIT.usage);
      process.stdout.write(script('aiflock'));
    });

  program
    .command('__complete', { hidden: true })
    .description('completion candidates for the words typed so far (the last one is being completed)')
    .argument('[words...]')
    .allowUnknownOption()
    .action(async (words: string[]) => {
      for (const c of await candidates(program, words, client)) println(c);
    });
}

/** Candidates for the last of `words` (possibly empty), after walking the commands the others name. */
export async function candidates(program: Command, words: string[], client: () => ApiClient): Promise<string[]> {
  const typed = words.slice(0, -1);
  const current = words.at(-1) ?? '';
  let cmd = program;
  let args = 0;
  for (let i = 0; i < typed.length; i++) {
    const w = typed[i]!;
    if (w === '--') break;
    if (w.startsWith('-')) {
      // An option that takes a value swallows the next word.
      const opt = findOption(cmd, w) ?? findOption(program, w);
      if (opt && (opt.required || opt.optional) && !w.includes('=')) i++;
      continue;
    }
    const sub = cmd.commands.find((c) => c.name() === w || c.aliases().includes(w));
    if (sub) {
      cmd = sub;
      args = 0;
    } else args++;
  }
  if (current.startsWith('-')) {
    return [...cmd.options, ...(cmd === program ? [] : program.options)].flatMap((o) => [o.long, o.short].filter((f): f is string => !!f).map((f) => `${f}\t${o.description}`));
  }
  const subs = cmd.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden);
  if (subs.length) return subs.map((c) => `${c.name()}\t${c.description()}`);
  // An agent's name where the command's argument is one: asked of the daemon, briefly.
  const arg = cmd.registeredArguments[Math.min(args, cmd.registeredArguments.length - 1)];
  if (arg && /^(name|agent|agents)$/.test(arg.name())) return agentNames(client);
  return [];
}

function findOption(cmd: Command, flag: string): Option | undefined {
  const name = flag.split('=')[0];
  return cmd.options.find((o) => o.long === name || o.short === name);
}

async function agentNames(client: () => ApiClient): Promise<string[]> {
  const timeout = new Promise<string[]>((resolve) => setTimeout(() => resolve([]), 3_000).unref());
  const names = client()
    .get<{ agents: AgentView[] }>('/v1/agents')
    .then(({ agents }) => agents.map((a) => `${a.name}\t${a.status}`))
    .catch(() => [] as string[]);
  return Promise.race([names, timeout]);
}
