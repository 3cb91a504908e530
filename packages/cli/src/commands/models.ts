import type { Command } from 'commander';
import type { LlmReloaded, LocalModelList, ModelDeleted, ModelPullProgress } from '@aiflock/protocol';
import { CliError, type ApiClient } from '../client.js';
import { EXIT } from '../exit-codes.js';
import { printJson, println, progress, table } from '../output.js';

const query = (provider?: string) => (provider ? `?provider=${encodeURIComponent(provider)}` : '');
const size = (bytes: number) => (bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(1)} GB` : `${Math.round(bytes / 1024 ** 2)} MB`);

/**
 * `aiflock models list|pull|rm` (admin): the local model server's models (Ollama), through the
 * daemon. `aiflock llm reload`: the config file's llm section applied without a restart.
 */
export function modelsCommand(program: Command, client: () => ApiClient): void {
  const models = program.command('models').description("manage the local model server's models (Ollama; admin)");

  models
    .command('list')
    .description('list the models the local model server holds, with the registry aliases using them and the pinned versions checked')
    .option('--provider <name>', 'which Ollama provider of the config (default: the only one)')
    .option('--json', 'print the list as JSON')
    .action(async (o: { provider?: string; json?: boolean }) => {
      const list = await client().get<LocalModelList>(`/v1/llm/models${query(o.provider)}`);
      if (o.json) return printJson(list);
      println(`${list.provider} at ${list.url}`);
      if (list.models.length === 0) println('no models: pull one with aiflock models pull <name>');
      else println(table(['NAME', 'DIGEST', 'SIZE', 'PARAMS', 'QUANT', 'ALIASES'], list.models.map((m) => [m.name, m.digest.slice(0, 19), size(m.sizeBytes), m.parameterSize ?? '-', m.quantization ?? '-', m.aliases.join(',') || '-'])));
      for (const p of list.pins) println(`pin ${p.alias}: ${p.state === 'ok' ? 'ok' : p.state === 'missing' ? 'MISSING' : 'MISMATCH'} (pinned ${p.digest})`);
    });

  models
    .command('pull')
    .description('pull a model onto the local model server, showing its progress')
    .argument('<name>', 'the model, e.g. qwen2.5:7b')
    .option('--provider <name>', 'which Ollama provider of the config (default: the only one)')
    .option('--json', 'print each progress line as JSON (NDJSON)')
    .action(async (name: string, o: { provider?: string; json?: boolean }) => {
      const ctl = new AbortController();
      process.once('SIGINT', () => ctl.abort());
      let last: ModelPullProgress = {};
      let shown = '';
      for await (const p of client().stream<ModelPullProgress>('/v1/llm/models/pull', ctl.signal, { name, ...(o.provider ? { provider: o.provider } : {}) })) {
        last = p;
        if (o.json) {
          println(JSON.stringify(p));
          continue;
        }
        if (p.error) break;
        const line = p.total ? `${p.status ?? ''} ${Math.floor(((p.completed ?? 0) / p.total) * 100)}% of ${size(p.total)}` : (p.status ?? '');
        // One line per status and per whole percent, on stderr: stdout stays for the result.
        if (line !== shown) progress((shown = line));
      }
      if (last.error) throw new CliError(`pulling ${name} failed: ${last.error}`, EXIT.failure);
      if (last.status !== 'success') throw new CliError(`pulling ${name} ended without success`, EXIT.failure);
      if (!o.json) println(`pulled ${name}${last.digest ? ` (${last.digest})` : ''}`);
    });

  models
    .command('rm')
    .description('remove a model from the local model server')
    .argument('<name>', 'the model, e.g. qwen2.5:7b')
    .option('--provider <name>', 'which Ollama provider of the config (default: the only one)')
    .option('--json', 'print the answer as JSON')
    .action(async (name: string, o: { provider?: string; json?: boolean }) => {
      const r = (await client().request<ModelDeleted>('DELETE', `/v1/llm/models/${encodeURIComponent(name)}${query(o.provider)}`)).data;
      if (o.json) return printJson(r);
      println(`removed ${r.name} from ${r.provider}`);
    });

  program
    .command('llm')
    .description("the LLM gateway's configuration")
    .command('reload')
    .description("re-read the config file's llm section (providers, models, policy) and apply it without a restart; SIGHUP to the daemon does the same")
    .option('--json', 'print what the gateway serves now as JSON')
    .action(async (o: { json?: boolean }) => {
      const r = await client().post<LlmReloaded>('/v1/llm/reload');
      if (o.json) return printJson(r);
      println(`reloaded: ${r.detail}`);
      println(`models: ${r.models.join(', ')}`);
    });
}
