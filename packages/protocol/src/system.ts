import * as z from 'zod';

/** The control plane's own routes: health, operator bus credentials, log level, shutdown. */

export const Health = z.object({ ok: z.boolean() });
export const Readiness = z.object({ ok: z.boolean(), checks: z.record(z.string(), z.object({ ok: z.boolean(), detail: z.string() })) });

export const BusCredentialsId = z.object({ id: z.string().regex(/^U[A-Z2-7]{55}$/, 'a NATS user public key (U followed by 55 characters), as `aiflock nats list-creds` shows') }).strict();
export const OperatorCreds = z.object({ id: z.string(), name: z.string(), issuedAt: z.string(), expiresAt: z.string().nullable(), revoked: z.boolean() });
export type OperatorCreds = z.infer<typeof OperatorCreds>;
export const OperatorCredsList = z.object({ credentials: z.array(OperatorCreds) });
export const BusCredentialsRequest = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, '1-64 letters, digits, dots, dashes or underscores').default('operator'),
    ttlSeconds: z.number().int().min(60).max(30 * 24 * 3600).default(3600),
  })
  .strict();
/** The only answer that carries the `.creds` file; it is never shown again. */
export const IssuedBusCredentials = z.object({ id: z.string(), name: z.string(), ttlSeconds: z.number().int(), expiresAt: z.string().nullable(), creds: z.string() });
export type IssuedBusCredentials = z.infer<typeof IssuedBusCredentials>;

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export const LogLevelBody = z.object({ level: z.enum(LOG_LEVELS) }).strict();
export const ShutdownRequest = z.object({ stopFlock: z.boolean().default(false) }).strict();
export const ShutdownResponse = z.object({ ok: z.literal(true), stopFlock: z.boolean() });
