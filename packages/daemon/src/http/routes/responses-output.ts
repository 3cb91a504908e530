import { randomUUID } from 'node:crypto';
import type { FinishReason, GatewayChunk, ToolCall, Usage } from '@aiflock/core';
import type { StreamRender } from '../llm-access.js';
import type { StoredItem } from './responses-memory.js';

/**
 * What `/v1/responses` answers: the Response object, its output items, and as a stream the
 * Responses event sequence (response.created, output items and text deltas, then
 * response.completed or response.incomplete) that the `openai` client and the AI SDK follow.
 */

export const newId = (prefix: 'resp' | 'msg' | 'fc') => `${prefix}_${randomUUID().replace(/-/g, '')}`;

export const messageItem = (id: string, text: string, status = 'completed') => ({
  type: 'message' as const,
  id,
  status,
  role: 'assistant' as const,
  content: [{ type: 'output_text' as const, text, annotations: [] }],
});

export const functionCallItem = (id: string, call: ToolCall, status = 'completed') => ({ type: 'function_call' as const, id, call_id: call.id, name: call.name, arguments: JSON.stringify(call.arguments), status });

/** A Response object without its status, output and usage: what the request asked, echoed. */
export type ResponseBase = Record<string, unknown> & { id: string };

/** `length` and `content_filter` end a response early: status `incomplete`, with the reason. */
function ending(reason: FinishReason) {
  if (reason === 'length') return { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } };
  if (reason === 'content_filter') return { status: 'incomplete', incomplete_details: { reason: 'content_filter' } };
  return { status: 'completed', incomplete_details: null };
}

const usageOf = (u: Usage) => ({ input_tokens: u.tokensIn, input_tokens_details: { cached_tokens: 0 }, output_tokens: u.tokensOut, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: u.tokensIn + u.tokensOut });

export function finished(base: ResponseBase, output: StoredItem[], reason: FinishReason, usage: Usage) {
  return { ...base, ...ending(reason), error: null, output, usage: usageOf(usage) };
}

/** A whole answer's output: its text as a message (always one when no tool was called), then its calls. */
export function wholeOutput(content: string, calls: readonly ToolCall[]): StoredItem[] {
  return [...(content || calls.length === 0 ? [messageItem(newId('msg'), content)] : []), ...calls.map((c) => functionCallItem(newId('fc'), c))];
}

/**
 * Renders gateway chunks as Responses events. Text opens a message item (closed when a tool
 * call or the end arrives); each tool call is a function_call item, whole, since the gateway
 * yields calls complete. `onDone` sees the final output (to remember it).
 */
export function responsesEvents(base: ResponseBase, onDone: (output: StoredItem[]) => void): StreamRender {
  let seq = 0;
  const ev = (type: string, o: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...o })}\n\n`;
  const output: StoredItem[] = [];
  let open: { index: number; id: string; text: string } | null = null;
  let started = false;

  const closeMessage = () => {
    if (!open) return '';
    const { index, id, text } = open;
    open = null;
    const item = messageItem(id, text);
    output[index] = item;
    const at = { item_id: id, output_index: index, content_index: 0 };
    return ev('response.output_text.done', { ...at, text, logprobs: [] }) + ev('response.content_part.done', { ...at, part: item.content[0] }) + ev('response.output_item.done', { output_index: index, item });
  };

  const item = (c: GatewayChunk): string => {
    let out = '';
    if (!started) {
      started = true;
      const pending = { ...base, status: 'in_progress', error: null, incomplete_details: null, output: [], usage: null };
      out += ev('response.created', { response: pending }) + ev('response.in_progress', { response: pending });
    }
    if (c.type === 'delta') {
      if (!open) {
        open = { index: output.length, id: newId('msg'), text: '' };
        output.push(messageItem(open.id, '', 'in_progress'));
        out += ev('response.output_item.added', { output_index: open.index, item: { ...messageItem(open.id, '', 'in_progress'), content: [] } });
        out += ev('response.content_part.added', { item_id: open.id, output_index: open.index, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } });
      }
      open.text += c.text;
      return out + ev('response.output_text.delta', { item_id: open.id, output_index: open.index, content_index: 0, delta: c.text, logprobs: [] });
    }
    out += closeMessage();
    if (c.type === 'tool_call') {
      const done = functionCallItem(newId('fc'), c.call);
      const index = output.push(done) - 1;
      const at = { item_id: done.id, output_index: index };
      return (
        out +
        ev('response.output_item.added', { output_index: index, item: { ...done, arguments: '', status: 'in_progress' } }) +
        ev('response.function_call_arguments.delta', { ...at, delta: done.arguments }) +
        ev('response.function_call_arguments.done', { ...at, name: done.name, arguments: done.arguments }) +
        ev('response.output_item.done', { output_index: index, item: done })
      );
    }
    const response = finished(base, output, c.finishReason, c.usage);
    onDone(output);
    return out + ev(response.status === 'completed' ? 'response.completed' : 'response.incomplete', { response });
  };

  return {
    contentType: 'text/event-stream',
    item,
    // The Responses API's own failure event; clients surface its message.
    error: (e) => ev('error', { code: e.error.code, message: e.error.message, param: null }),
  };
}
