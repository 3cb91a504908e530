import type { TaskResult } from '@aiflock/protocol';

/** Room left for NATS headers (Nats-Msg-Id) and protocol framing. */
const HEADROOM = 4 * 1024;

const encoder = new TextEncoder();

/**
 * Encode a result so that it fits in one bus message. A result that does not fit would be
 * rejected on every retry and its task never acknowledged, so long strings in `result`,
 * `error` and `output` are cut (with a marker) until it fits; the structure of `output`
 * (exit codes, flags) is kept.
 */
export function encodeResult(result: TaskResult, maxPayload: number): Uint8Array {
  const limit = Math.max(1024, maxPayload - HEADROOM);
  const whole = encoder.encode(JSON.stringify(result));
  if (whole.byteLength <= limit) return whole;

  // Through JSON first, so values with toJSON (dates) are shrunk as what they serialise to.
  const plain = JSON.parse(JSON.stringify(result)) as TaskResult;
  for (let maxChars = Math.floor(limit / 4); maxChars >= 16; maxChars = Math.floor(maxChars / 2)) {
    const bytes = encoder.encode(JSON.stringify(shrinkStrings(plain, maxChars)));
    if (bytes.byteLength <= limit) return bytes;
  }
  // Only an output with a huge number of small values gets here: keep the outcome, drop it.
  const { output: _dropped, ...bare } = plain;
  return encoder.encode(JSON.stringify(shrinkStrings({ ...bare, output: { truncated: true, note: 'output too large for the bus' } }, 256)));
}

/** A copy of a JSON value with every string longer than `maxChars` cut. */
export function shrinkStrings<T>(value: T, maxChars: number): T {
  return shrink(value, maxChars) as T;
}

function shrink(value: unknown, maxChars: number): unknown {
  if (typeof value === 'string') {
    return value.length <= maxChars ? value : `${value.slice(0, maxChars)}… [truncated ${value.length - maxChars} characters]`;
  }
  if (Array.isArray(value)) return value.map((v) => shrink(v, maxChars));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shrink(v, maxChars)]));
  }
  return value;
}
