import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { headers, type MsgHdrs } from 'nats';
import { TRACE_HEADERS, formatTraceparent, parseTraceparent } from '@aiflock/protocol/trace';

/**
 * The agent's side of tracing, kept to propagation: the sandbox may reach nothing but the
 * bus, so it cannot export spans to a collector, and an OpenTelemetry SDK in every sandbox
 * would cost memory and start-up time for no gain. Instead the instance gives its handling
 * of a task a span id of its own, sends it on the RPC requests the task makes (so the
 * gateway's span is its child) and reports it with the result; the control plane records
 * the span (protocol/trace.ts).
 */
export interface TaskSpan {
  /** This instance's span for the task, as a traceparent. */
  traceparent: string;
  startMs: number;
}

const current = new AsyncLocalStorage<TaskSpan>();

/** A child span of the task message's traceparent, or null when the task carries none. */
export function taskSpan(incoming: string | undefined): TaskSpan | null {
  const parent = parseTraceparent(incoming);
  if (!parent) return null;
  return { traceparent: formatTraceparent({ ...parent, spanId: randomBytes(8).toString('hex') }), startMs: Date.now() };
}

/** Run `fn` (a task's handler) with `span` as the context its RPC requests carry. */
export function inTaskSpan<T>(span: TaskSpan | null, fn: () => T): T {
  return span ? current.run(span, fn) : fn();
}

/** Headers for an RPC request made inside a task's span; undefined outside one. */
export function rpcTraceHeaders(): MsgHdrs | undefined {
  const span = current.getStore();
  if (!span) return undefined;
  const h = headers();
  h.set(TRACE_HEADERS.traceparent, span.traceparent);
  return h;
}

/** Headers for the result message: the span and when it started. */
export function resultTraceHeaders(span: TaskSpan | null): MsgHdrs | undefined {
  if (!span) return undefined;
  const h = headers();
  h.set(TRACE_HEADERS.traceparent, span.traceparent);
  h.set(TRACE_HEADERS.spanStart, String(span.startMs));
  return h;
}
