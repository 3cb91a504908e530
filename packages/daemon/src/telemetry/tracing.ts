import { context, propagation, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type SpanContext } from '@opentelemetry/api';
import { TRACE_HEADERS, parseTraceparent, type TraceParent } from '@aiflock/protocol';

/**
 * The daemon's tracing, through the OpenTelemetry API only. Without an OTLP endpoint no SDK is
 * loaded and every call here is the API's no-op (a few property reads); with one,
 * `otel-sdk.ts` registers a provider, an async-hooks context manager and the W3C propagator.
 */
export const tracer = () => trace.getTracer('aiflock-daemon');

export { SpanKind };

/** Run `fn` in a new active span; a thrown error marks the span and is rethrown. */
export async function withSpan<T>(name: string, opts: { kind?: SpanKind; attributes?: Attributes }, fn: (span: Span) => Promise<T>): Promise<T> {
  return tracer().startActiveSpan(name, opts, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      failSpan(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

export function failSpan(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : String(err));
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}

/** W3C trace context of the active span into `set` (a NATS header set, HTTP headers). */
export function injectTraceContext(set: (name: string, value: string) => void, ctx: Context = context.active()): void {
  propagation.inject(ctx, undefined, { set: (_carrier, key, value) => set(key, value) });
}

/** The context a remote caller sent (no-op propagator: the active context unchanged). */
export function extractTraceContext(get: (name: string) => string | undefined, base: Context = context.active()): Context {
  return propagation.extract(base, undefined, {
    get: (_carrier, key) => get(key),
    keys: () => [TRACE_HEADERS.traceparent, TRACE_HEADERS.tracestate],
  });
}

/** A finished span that happened elsewhere (an agent in its sandbox), recorded by this process. */
export interface RemoteSpan {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  sampled: boolean;
  startMs: number;
  endMs: number;
  attributes: Attributes;
  error?: string;
}

type RemoteRecorder = (span: RemoteSpan) => void;
let remoteRecorder: RemoteRecorder = () => undefined;

/** Installed by the SDK module; without it remote spans go nowhere, like every other span. */
export function setRemoteSpanRecorder(recorder: RemoteRecorder): void {
  remoteRecorder = recorder;
}

interface PublishedTask {
  traceId: string;
  spanId: string;
  sampled: boolean;
  publishedAtMs: number;
}

/**
 * What the control plane published each task under, so what an instance reports back about
 * its span can be checked: the trace and parent are ours, never the instance's word, and an
 * instance cannot attach spans (or gateway calls) to a trace it was never given. Bounded
 * (oldest forgotten first); after a daemon restart a task's agent span is not recorded.
 */
export class TaskTraces {
  private readonly tasks = new Map<string, PublishedTask>();
  private readonly traceUse = new Map<string, number>();

  constructor(private readonly max = 10_000) {}

  /** Remember the span `taskId` was published under (nothing for the no-op API's invalid span). */
  published(taskId: string, sc: SpanContext, now = Date.now()): void {
    if (!trace.isSpanContextValid(sc)) return;
    this.forget(taskId);
    if (this.tasks.size >= this.max) this.forget(this.tasks.keys().next().value!);
    this.tasks.set(taskId, { traceId: sc.traceId, spanId: sc.spanId, sampled: (sc.traceFlags & 1) === 1, publishedAtMs: now });
    this.traceUse.set(sc.traceId, (this.traceUse.get(sc.traceId) ?? 0) + 1);
  }

  /** Whether `traceId` belongs to a task this daemon published and has not yet seen finish. */
  knows(traceId: string): boolean {
    return this.traceUse.has(traceId);
  }

  /**
   * The agent span of a finished task, if the instance reported one that fits: same trace,
   * a fresh span id. The start is clamped between publishing and `endMs` (a sandbox's clock
   * is the host's, but a span never starts before its parent). Forgets the task either way.
   */
  finished(taskId: string, reported: { traceparent: string | undefined; startMs: string | undefined }, endMs: number): Omit<RemoteSpan, 'name' | 'attributes'> | null {
    const mine = this.tasks.get(taskId);
    if (!mine) return null;
    this.forget(taskId);
    const theirs: TraceParent | null = parseTraceparent(reported.traceparent);
    const start = Number(reported.startMs);
    if (!theirs || theirs.traceId !== mine.traceId || theirs.spanId === mine.spanId) return null;
    if (!Number.isSafeInteger(start)) return null;
    const startMs = Math.min(Math.max(start, mine.publishedAtMs), endMs);
    return { traceId: mine.traceId, spanId: theirs.spanId, parentSpanId: mine.spanId, sampled: mine.sampled, startMs, endMs };
  }

  private forget(taskId: string): void {
    const t = this.tasks.get(taskId);
    if (!t) return;
    this.tasks.delete(taskId);
    const n = (this.traceUse.get(t.traceId) ?? 1) - 1;
    if (n <= 0) this.traceUse.delete(t.traceId);
    else this.traceUse.set(t.traceId, n);
  }
}

export function recordRemoteSpan(span: RemoteSpan): void {
  remoteRecorder(span);
}
