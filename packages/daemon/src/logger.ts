import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Where a secret value could end up in a log line if someone logged a request body or a
 * header set. Values are censored there; the code never logs them on purpose.
 */
export const REDACT_PATHS = [
  'value',
  '*.value',
  'body.value',
  'req.body.value',
  'secret',
  '*.secret',
  'headers.authorization',
  'headers["proxy-authorization"]',
  '*.headers.authorization',
  '*.headers["proxy-authorization"]',
];

/** Structured JSON logs on stdout. */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  // Seed 3's field names: `ts` (ISO time) and `level` as a word, so logs read the same in any tool.
  return pino(
    {
      level,
      base: { service: 'aiflock-daemon' },
      timestamp: () => `,"ts":"${new Date().toISOString()}"`,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    destination,
  );
}

/** The small log function the core services take. */
export function logFn(logger: Logger) {
  return (level: 'info' | 'warn' | 'error', msg: string, data?: Record<string, unknown>) => logger[level](data ?? {}, msg);
}
