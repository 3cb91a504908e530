import { z } from 'zod';
import { dockerRuntimeFactory } from './docker/factory.js';
import { processRuntimeFactory } from './process/factory.js';
import { vmRuntimeFactory } from './vm/factory.js';
import type { RuntimeFactory } from './shared/host-runtime.js';
import { RUNTIME_SETTINGS_DEFAULT, commonRuntimeSettings } from './shared/settings.js';

/**
 * Every sandbox runtime kind, by name. Adding a kind is its own folder plus one line here:
 * the config, the composition root and the status all go through this table.
 */
export const RUNTIME_FACTORIES = [dockerRuntimeFactory, processRuntimeFactory, vmRuntimeFactory] as const satisfies readonly RuntimeFactory[];

export type RuntimeKind = (typeof RUNTIME_FACTORIES)[number]['kind'];

const kinds = RUNTIME_FACTORIES.map((f) => f.kind) as [RuntimeKind, ...RuntimeKind[]];

export function runtimeFactory(kind: string): RuntimeFactory {
  const factory = RUNTIME_FACTORIES.find((f) => f.kind === kind);
  // The config schema only lets known kinds through; this guards callers that skip it.
  if (!factory) throw new Error(`unknown runtime kind "${kind}" (known: ${kinds.join(', ')})`);
  return factory;
}

/** The config's `runtime` section: the shared settings, the kind, and each kind's own. */
export const RuntimeSettingsSchema = z
  .object({
    /** `process`: bubblewrap sandboxes for hosts without Docker (weaker; see docs/security.md). */
    kind: z.enum(kinds).default('docker'),
    ...commonRuntimeSettings,
    ...Object.fromEntries(RUNTIME_FACTORIES.flatMap((f: RuntimeFactory) => (f.settings ? [[f.kind, f.settings.optional()]] : []))),
  })
  .strict()
  .default({ kind: 'docker', ...RUNTIME_SETTINGS_DEFAULT });

/** Each kind's environment variables, under `runtime.<kind>`. */
export const RUNTIME_ENV_VARS: Record<string, string[]> = Object.fromEntries(
  RUNTIME_FACTORIES.flatMap((f: RuntimeFactory) => Object.entries(f.env ?? {}).map(([name, path]) => [name, ['runtime', f.kind, ...path]])),
);
