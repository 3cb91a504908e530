import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stdout. */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  // Seed 3's field names: `ts` (ISO time) and `level` as a word, so logs read the same in any tool.
  return pino(
    {
      level,
      base: { service: 'aiflock-daemon' },
      timestamp: () => `,"ts":"${new Date().toISOString()}"`,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** The small log function the core services take. */
export function logFn(logger: Logger) {
  return (level: 'info' | 'warn' | 'error', msg: string, data?: Record<string, unknown>) => logger[level](data ?? {}, msg);
}
