import { z } from 'zod';
import { AgentName, InstanceId } from './names.js';

/**
 * The environment the control plane gives an instance. It is the whole contract between
 * the sandbox launcher and the in-sandbox runtime; no secret values travel this way.
 */
export const RuntimeEnv = z.object({
  AIFLOCK_INSTANCE_ID: InstanceId,
  AIFLOCK_AGENT: AgentName,
  AIFLOCK_NATS_URL: z.string().min(1),
  AIFLOCK_HANDLERS: z
    .string()
    .min(1)
    .transform((s) => s.split(',').filter(Boolean)),
  AIFLOCK_HEARTBEAT_MS: z.coerce.number().int().min(100).default(30_000),
  AIFLOCK_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(1),
  AIFLOCK_SHARED_DIR: z.string().default('/shared'),
  AIFLOCK_WORKSPACE: z.string().optional(),
  AIFLOCK_LOG_FILE: z.string().optional(),
  AIFLOCK_NATS_CREDS: z.string().optional(),
});
export type RuntimeEnv = z.infer<typeof RuntimeEnv>;
