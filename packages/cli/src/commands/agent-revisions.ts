import type { Command } from 'commander';
import type { DeployResponse, RevisionList } from '@aiflock/protocol';
import type { ApiClient } from '../client.js';
import { age, printJson, println, table } from '../output.js';

/** `aiflock agent history` and `aiflock agent rollback`, as `helm history` and `helm rollback`. */
export function agentRevisionCommands(agent: Command, client: () => ApiClient): void {
  agent
    .command('history')
    .description("list an agent's revisions: digest, who deployed it, when, and what changed")
    .argument('<name>')
    .option('--json', 'print as JSON')
    .action(async (name: string, o: { json?: boolean }) => {
      const out = await client().get<RevisionList>(`/v1/agents/${encodeURIComponent(name)}/revisions`);
      if (o.json) return printJson(out);
      if (out.revisions.length === 0) return println(`${name} has no revisions (it was deployed before revisions were kept)`);
      println(
        table(
          ['REV', 'DIGEST', 'DEPLOYED', 'BY', 'CAUSE', 'CHANGES'],
          out.revisions.map((r) => [
            `${r.revision}${r.current ? '*' : ''}`,
            r.digest.slice(0, 19),
            age(r.deployedAt),
            r.deployedBy ?? '-',
            r.cause === 'rollback' ? `rollback to ${r.fromRevision}` : r.cause,
            describeChanges(r),
          ]),
        ),
      );
    });

  agent
    .command('rollback')
    .description('roll an agent back to an earlier revision (the previous one by default); the rollback is a new revision')
    .argument('<name>')
    .option('--to <rev>', 'a revision number, or a digest or CID from the history')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, o: { to?: string; json?: boolean }) => {
      const to = o.to === undefined ? undefined : /^\d+$/.test(o.to) ? Number(o.to) : o.to;
      const out = await client().post<DeployResponse>(`/v1/agents/${encodeURIComponent(name)}/rollback`, to === undefined ? {} : { to });
      if (o.json) return printJson(out);
      println(`${out.changed ? 'rolled back' : 'unchanged'} ${out.agent.name} to ${out.agent.digest.slice(0, 19)}${out.revision ? ` (revision ${out.revision})` : ''}`);
    });
}

function describeChanges(r: RevisionList['revisions'][number]): string {
  const fields = r.changes.length === 0 ? (r.revision === 1 ? 'first deploy' : '-') : r.changes.slice(0, 4).join(', ') + (r.changes.length > 4 ? ` +${r.changes.length - 4}` : '');
  return r.overrides.length > 0 ? `${fields} (--set ${r.overrides.join(' ')})` : fields;
}
