import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stdout. */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino({ level, base: { service: 'aiflock-daemon' }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}

/** The small log function the core services take. */
export function logFn(logger: Logger) {
  return (level: 'info' | 'warn' | 'error', msg: string, data?: Record<string, unknown>) => logger[level](data ?? {}, msg);
}
