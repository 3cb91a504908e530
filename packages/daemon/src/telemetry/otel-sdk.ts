import { context, propagation, trace, SpanKind, SpanStatusCode, TraceFlags, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, RandomIdGenerator, TracerProvider, type IdGenerator } from '@opentelemetry/sdk-trace';
import { setRemoteSpanRecorder, tracer, type RemoteSpan } from './tracing.js';

/**
 * Loaded (dynamically) only when an OTLP endpoint is configured. Spans are batched and sent
 * as OTLP/HTTP JSON to `<endpoint>/v1/traces`, the standard path for a base endpoint
 * (OTEL_EXPORTER_OTLP_ENDPOINT).
 */
export interface TracingHandle {
  /** Export what is buffered and stop. */
  shutdown(): Promise<void>;
  forceFlush(): Promise<void>;
}

/**
 * Random ids, except that recording an agent's span must reuse the span id the agent chose
 * (its RPC requests already named it as their parent). The SDK asks for the id synchronously
 * inside startSpan, so "use this id for the next span" cannot be taken by another span.
 */
class ChosenIdGenerator implements IdGenerator {
  private readonly random = new RandomIdGenerator();
  next: string | null = null;
  generateTraceId(): string {
    return this.random.generateTraceId();
  }
  generateSpanId(): string {
    const chosen = this.next;
    this.next = null;
    return chosen ?? this.random.generateSpanId();
  }
}

export function startTracing(opts: { endpoint: string; serviceName: string; version: string }): TracingHandle {
  const ids = new ChosenIdGenerator();
  const exporter = new OTLPTraceExporter({ url: `${opts.endpoint.replace(/\/+$/, '')}/v1/traces` });
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': opts.serviceName, 'service.version': opts.version }),
    idGenerator: ids,
    spanProcessors: [new BatchSpanProcessor({ exporter, scheduledDelayMillis: 1_000 })],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);

  setRemoteSpanRecorder((s: RemoteSpan) => {
    const parent = trace.setSpanContext(context.active(), {
      traceId: s.traceId,
      spanId: s.parentSpanId,
      traceFlags: s.sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
      isRemote: false,
    });
    ids.next = s.spanId;
    let span: Span;
    try {
      span = tracer().startSpan(s.name, { kind: SpanKind.CONSUMER, startTime: s.startMs, attributes: s.attributes }, parent);
    } finally {
      ids.next = null;
    }
    if (s.error) span.setStatus({ code: SpanStatusCode.ERROR, message: s.error });
    span.end(s.endMs);
  });

  return {
    forceFlush: () => provider.forceFlush(),
    async shutdown() {
      setRemoteSpanRecorder(() => undefined);
      await provider.shutdown();
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}
