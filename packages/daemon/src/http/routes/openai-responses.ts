import { FlockError, type ChatMessage, type GatewayChatRequest } from '@aiflock/core';
import type { FastifyPluginAsync } from 'fastify';
import { OaResponse, ResponsesItems, ResponsesRequest, type ResponsesItem, type ResponsesContent } from '@aiflock/protocol';
import type { ApiContext } from '../context.js';
import { parseInput } from '../errors.js';
import { answerChat, httpCaller, llmRoute } from '../llm-access.js';
import { outputFormat, parseArgs, toolDefinition } from './openai-wire.js';
import { ResponseMemory, type StoredItem } from './responses-memory.js';
import { finished, newId, responsesEvents, wholeOutput, type ResponseBase } from './responses-output.js';

/*
 * OpenAI's Responses API (`POST /v1/responses`), which newer OpenAI clients and the Vercel AI
 * SDK's default provider use. It goes the same way as /v1/chat/completions (`answerChat`:
 * same scope, entitlements, metering and tracing); only the wire shape differs. Text, message
 * and function-call items, instructions, function tools, JSON output and streaming are
 * honoured; hosted tools and non-text inputs are refused by name.
 */

function partsText(content: ResponsesContent, where: string): string {
  if (typeof content === 'string') return content;
  return content
    .map((p) => {
      if ('text' in p && typeof p.text === 'string' && (p.type === 'input_text' || p.type === 'output_text')) return p.text;
      if (p.type === 'refusal' && 'refusal' in p && typeof p.refusal === 'string') return p.refusal;
      throw new FlockError('validation_failed', `${where}: content part type "${p.type}" is not supported; the gateway passes text (input_text, output_text) only`, { type: p.type });
    })
    .join('');
}

/** Responses items → the gateway's messages. Calls join the assistant message before them, as one turn. */
function toMessages(items: readonly ResponsesItem[]): ChatMessage[] {
  const out: ChatMessage[] = [];
  items.forEach((item, i) => {
    const where = `input.${i}`;
    if (item.type === 'message') out.push({ role: item.role === 'developer' ? 'system' : item.role, content: partsText(item.content, where) });
    else if (item.type === 'function_call') {
      const call = { id: item.call_id, name: item.name, arguments: parseArgs(item.arguments) };
      const last = out.at(-1);
      if (last?.role === 'assistant') last.toolCalls = [...(last.toolCalls ?? []), call];
      else out.push({ role: 'assistant', content: '', toolCalls: [call] });
    } else if (item.type === 'function_call_output') out.push({ role: 'tool', content: partsText(item.output, where), toolCallId: item.call_id });
  });
  return out;
}

/** What the request asked, echoed in every Response object of this answer. */
function responseBase(body: ResponsesRequest, stored: boolean): ResponseBase {
  return {
    id: newId('resp'),
    object: 'response',
    created_at: Math.floor(Date.now() / 1000),
    model: body.model,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: body.previous_response_id ?? null,
    reasoning: { effort: null, summary: null },
    store: stored,
    temperature: body.temperature ?? null,
    top_p: body.top_p ?? null,
    text: { format: body.text?.format ?? { type: 'text' } },
    tool_choice: body.tool_choice ?? 'auto',
    tools: body.tools ?? [],
    truncation: 'disabled',
    user: body.user ?? null,
    metadata: body.metadata ?? {},
  };
}

export const openAiResponsesRoutes =
  (ctx: ApiContext): FastifyPluginAsync =>
  async (app) => {
    const memory = new ResponseMemory();

    app.post('/responses', llmRoute({ summary: 'OpenAI Responses API: text, messages, function tools, JSON output, streaming', body: ResponsesRequest, response: OaResponse, produces: 'text/event-stream' }), async (req, reply) => {
      const body = parseInput(ResponsesRequest, req.body, 'body');
      const owner = httpCaller(req).id;
      // The conversation as items: what earlier responses said (by id or reference), then this input.
      const given = typeof body.input === 'string' ? [{ type: 'message' as const, role: 'user' as const, content: body.input }] : body.input;
      const conversation: StoredItem[] = [
        ...(body.previous_response_id ? memory.conversation(body.previous_response_id, owner) : []),
        ...given.map((item) => (item.type === 'item_reference' ? memory.item(item.id, owner) : item)),
      ];
      const format = body.text?.format;
      const request: GatewayChatRequest = {
        model: body.model,
        messages: [...(body.instructions ? [{ role: 'system' as const, content: body.instructions }] : []), ...toMessages(parseInput(ResponsesItems, conversation, 'body'))],
        tools: body.tool_choice === 'none' ? undefined : body.tools?.map(toolDefinition),
        format: outputFormat(format),
        maxTokens: body.max_output_tokens ?? undefined,
        temperature: body.temperature ?? undefined,
      };
      const stored = body.store !== false;
      const base = responseBase(body, stored);
      const remember = (output: StoredItem[]) => stored && memory.remember(base.id, owner, conversation, output);
      if (body.stream) return answerChat(ctx, req, reply, request, { stream: true, render: responsesEvents(base, remember) });
      return answerChat(ctx, req, reply, request, {
        stream: false,
        whole: (r) => {
          void reply.header('x-aiflock-provider', r.provider);
          const output = wholeOutput(r.content, r.toolCalls);
          remember(output);
          return finished(base, output, r.finishReason, r.usage);
        },
      });
    });
  };
