import { z } from 'zod';
import { parseSize } from '@aiflock/core';

/** Bytes, or a size like "1Gi", at least `min` (`minText`). */
const sizeSetting = (min: number, minText: string) =>
  z.union([z.number().int(), z.string()]).transform((v, ctx) => {
    const bytes = typeof v === 'number' ? v : parseSize(v);
    if (bytes === null || bytes < min) {
      ctx.addIssue({ code: 'custom', message: `expected a size like "1Gi" (or bytes), at least ${minText}` });
      return z.NEVER;
    }
    return bytes;
  });

/**
 * The `runtime` section's settings every kind shares (and, flat for compatibility, the docker
 * and process ones that predate per-kind sections). A kind's own settings live under
 * `runtime.<kind>`, declared by its factory; the registry puts the section together.
 */
export const commonRuntimeSettings = {
  /** Process runtime: where sandboxes' binds live (parents traversable by uid 1001). */
  processDir: z.string().startsWith('/', 'an absolute path').optional(),
  socket: z.string().default('/var/run/docker.sock'),
  image: z.string().default('aiflock/agent:latest'),
  /** What a manifest's `image: workbench` runs (scripts/build-workbench.sh builds it). */
  workbenchImage: z.string().min(1).default('aiflock/workbench:latest'),
  /** Host tmpfs for secret files; default /dev/shm/aiflock-<flock>-secrets. */
  secretsDir: z.string().startsWith('/', 'an absolute path').optional(),
  /**
   * The operator engine's socket: a second dockerd with --userns-remap (scripts/operator-engine.sh).
   * Unset: `profile: operator` is refused. Docker runtime only.
   */
  operatorEngine: z.string().startsWith('/', 'an absolute path').optional(),
  /** Host directory of operator sandboxes' bus/proxy sockets; default /run/aiflock-<flock>-operator. */
  operatorSocketDir: z.string().startsWith('/', 'an absolute path').optional(),
  /**
   * The images a manifest's `image` may name; unset: the agent image and the workbench
   * image. Anything else on this host (build caches, other projects' images) is refused.
   */
  allowedImages: z
    .union([z.array(z.string().min(1)), z.string().transform((s) => s.split(',').map((o) => o.trim()).filter(Boolean))])
    .optional(),
  /** An agent's workspace size when its manifest names none (`resources.workspace`): a hard limit. */
  workspaceSize: sizeSetting(16 * 1024 ** 2, '16Mi (an ext4 file system of its own)').default(1024 ** 3),
  /** The largest workspace a manifest may ask for. */
  maxWorkspace: sizeSetting(16 * 1024 ** 2, '16Mi').default(64 * 1024 ** 3),
  /** Each instance's log file is rotated at this size, keeping `logFileKeep` old files; its directory is a volume that holds no more. */
  logFileMaxBytes: sizeSetting(4096, '4Ki').default(10 * 1024 ** 2),
  logFileKeep: z.coerce.number().int().min(0).max(100).default(3),
  /** The most processes one sandbox may ask for (manifest `resources.pids`). */
  maxPids: z.coerce.number().int().min(8).max(4_194_304).default(4096),
};

export const RUNTIME_SETTINGS_DEFAULT = { socket: '/var/run/docker.sock', image: 'aiflock/agent:latest', workbenchImage: 'aiflock/workbench:latest', maxPids: 4096, workspaceSize: 1024 ** 3, maxWorkspace: 64 * 1024 ** 3, logFileMaxBytes: 10 * 1024 ** 2, logFileKeep: 3 };

/** The validated section as a runtime sees it; its own `runtime.<kind>` settings are under its kind. */
export type RuntimeSettings = Readonly<z.output<z.ZodObject<typeof commonRuntimeSettings>>> & { readonly kind: string; readonly [kind: string]: unknown };

/** What the runtimes take from these settings for an instance's storage. */
export function storageLimits(s: RuntimeSettings): { workspaceBytes: number; logFileMaxBytes: number; logFileKeep: number } {
  return { workspaceBytes: s.workspaceSize, logFileMaxBytes: s.logFileMaxBytes, logFileKeep: s.logFileKeep };
}
