import { SpanKind, SpanStatusCode, type Span } from '@opentelemetry/api';
import type { GatewayChatRequest, GatewayChunk, LlmCaller, LlmGateway, Usage } from '@aiflock/core';
import { failSpan, tracer, withSpan } from './tracing.js';

/**
 * Gateway calls as spans (OpenTelemetry's GenAI attribute names): the model asked for, the
 * provider that answered, tokens in and out. Every caller goes through `chat` or
 * `chatStream` (HTTP routes and agents' RPC alike), so wrapping those two covers them.
 */
export function traceGateway(gateway: LlmGateway): void {
  const chat = gateway.chat.bind(gateway);
  const chatStream = gateway.chatStream.bind(gateway);

  gateway.chat = (req: GatewayChatRequest, caller: LlmCaller) =>
    withSpan(`chat ${req.model}`, { kind: SpanKind.CLIENT, attributes: requestAttributes(req, caller) }, async (span) => {
      const r = await chat(req, caller);
      answered(span, { provider: r.provider, model: r.model, usage: r.usage, correlationId: r.correlationId, finishReason: r.finishReason });
      return r;
    });

  gateway.chatStream = (req: GatewayChatRequest, caller: LlmCaller): AsyncIterable<GatewayChunk> => ({
    async *[Symbol.asyncIterator]() {
      const span = tracer().startSpan(`chat ${req.model}`, { kind: SpanKind.CLIENT, attributes: { ...requestAttributes(req, caller), 'gen_ai.request.stream': true } });
      try {
        for await (const chunk of chatStream(req, caller)) {
          if (chunk.type === 'done') answered(span, chunk);
          yield chunk;
        }
      } catch (err) {
        failSpan(span, err);
        throw err;
      } finally {
        span.end();
      }
    },
  });
}

function requestAttributes(req: GatewayChatRequest, caller: LlmCaller) {
  return {
    'gen_ai.operation.name': 'chat',
    'gen_ai.request.model': req.model,
    ...(req.maxTokens === undefined ? {} : { 'gen_ai.request.max_tokens': req.maxTokens }),
    'aiflock.caller': caller.id,
    ...(caller.instanceId ? { 'aiflock.instance.id': caller.instanceId } : {}),
  };
}

function answered(span: Span, r: { provider: string; model: string; usage: Usage; correlationId: string; finishReason: string }): void {
  span.setAttributes({
    'gen_ai.provider.name': r.provider,
    'gen_ai.response.model': r.model,
    'gen_ai.usage.input_tokens': r.usage.tokensIn,
    'gen_ai.usage.output_tokens': r.usage.tokensOut,
    'gen_ai.response.finish_reasons': [r.finishReason],
    'aiflock.correlation_id': r.correlationId,
  });
  span.setStatus({ code: SpanStatusCode.OK });
}
