/**
 * Trace context on the bus (W3C Trace Context, https://www.w3.org/TR/trace-context/), carried
 * in NATS message headers so payload schemas stay as they are.
 *
 * - A task message on `tasks.<agent>` carries `traceparent` naming the control plane's
 *   publish span.
 * - An instance runs the task as a span of its own (a fresh span id) and sends that
 *   `traceparent` on the RPC requests it makes for the task (e.g. `llm.chat`), so the gateway's
 *   span is a child of the agent's.
 * - The result message carries the agent span's `traceparent` and when handling started
 *   (`aiflock-span-start`, epoch milliseconds). The sandbox has no route to a trace collector,
 *   so the control plane records that span for it; it takes only the span id and start time
 *   from the instance and checks both (see the daemon's telemetry module).
 */
export const TRACE_HEADERS = {
  traceparent: 'traceparent',
  tracestate: 'tracestate',
  spanStart: 'aiflock-span-start',
} as const;

export interface TraceParent {
  traceId: string;
  spanId: string;
  /** Bit 0: sampled. */
  flags: number;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** A version-00 traceparent, or null for anything else (including the all-zero invalid ids). */
export function parseTraceparent(value: string | undefined | null): TraceParent | null {
  if (typeof value !== 'string') return null;
  const m = TRACEPARENT.exec(value.trim());
  if (!m) return null;
  const [, traceId, spanId, flags] = m as unknown as [string, string, string, string];
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return null;
  return { traceId, spanId, flags: Number.parseInt(flags, 16) };
}

export function formatTraceparent(t: TraceParent): string {
  return `00-${t.traceId}-${t.spanId}-${(t.flags & 0xff).toString(16).padStart(2, '0')}`;
}
