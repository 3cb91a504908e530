import { z } from 'zod';

const KINDS = ['ollama', 'openai', 'anthropic', 'embedded'] as const;

const Limits = z
  .object({
    models: z.array(z.string().min(1)).optional(),
    requestsPerMinute: z.coerce.number().int().min(0).optional(),
    tokensPerHour: z.coerce.number().int().min(0).optional(),
    concurrent: z.coerce.number().int().min(0).optional(),
  })
  .strict();

/**
 * One provider deployment. `kind` may be left out when the name is a kind (`ollama:`,
 * `openai:`...), so `AIFLOCK_OLLAMA_URL` alone configures one. Keys stay in the daemon: they
 * are never passed to sandboxes, only to the adapter that calls the provider.
 */
const Provider = z
  .object({
    kind: z.enum(KINDS),
    url: z.string().url().optional(),
    apiKey: z.string().min(1).optional(),
    modelFile: z.string().min(1).optional(),
    threads: z.coerce.number().int().min(1).default(1),
    contextSize: z.coerce.number().int().min(64).default(2048),
  })
  .strict();

const Model = z
  .object({
    provider: z.string().min(1),
    model: z.string().min(1),
    capabilities: z.array(z.enum(['chat', 'tools', 'json', 'embed', 'stream'])).default(['chat', 'stream', 'json']),
    contextWindow: z.coerce.number().int().min(1).default(4096),
    pricePer1kIn: z.coerce.number().min(0).default(0),
    pricePer1kOut: z.coerce.number().min(0).default(0),
    fallbacks: z.array(z.string().min(1)).default([]),
    /**
     * Pinned version (Ollama providers): the `sha256:` digest the local server must hold for
     * this model. Checked at start, on reload and by `aiflock models list`; a difference is
     * logged and shown by `aiflock status`.
     */
    digest: z
      .string()
      .regex(/^(sha256:)?[0-9a-fA-F]{64}$/, 'a sha256 digest, as `aiflock models list` shows it')
      .transform((d) => (d.startsWith('sha256:') ? d : `sha256:${d}`).toLowerCase())
      .optional(),
    /** Load the model when the daemon starts or reloads (Ollama providers), so the first call does not wait for it. */
    warmUp: z.boolean().optional(),
    /** How long Ollama keeps it loaded after the warm-up (its `keep_alive`: "30m", "24h", "-1" for ever); default 30m. */
    keepAlive: z
      .string()
      .regex(/^-?\d+(ms|s|m|h)?$/, 'a duration such as 30m or 24h, or -1')
      .optional(),
  })
  .strict();

export const LlmConfigSchema = z
  .object({
    /** Provider deployments by name. */
    providers: z.preprocess((raw) => {
      // A provider named like a kind needs no `kind` field.
      if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return raw;
      return Object.fromEntries(
        Object.entries(raw as Record<string, unknown>).map(([name, p]) => [name, p && typeof p === 'object' && !('kind' in p) && (KINDS as readonly string[]).includes(name) ? { kind: name, ...p } : p]),
      );
    }, z.record(z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'lower-case name'), Provider).default({})),
    /** The registry: names and aliases (default, fast, coder, embed) → provider model. Empty: detect. */
    models: z.record(z.string().min(1), Model).default({}),
    policy: z
      .object({
        attemptsPerProvider: z.coerce.number().int().min(1).max(10).default(2),
        backoffBaseMs: z.coerce.number().int().min(0).default(200),
        backoffMaxMs: z.coerce.number().int().min(0).default(5_000),
        deadlineMs: z.coerce.number().int().min(100).default(120_000),
        attemptTimeoutMs: z.coerce.number().int().min(100).default(60_000),
        breakerFailures: z.coerce.number().int().min(1).default(5),
        breakerCooldownMs: z.coerce.number().int().min(100).default(30_000),
        defaultMaxTokens: z.coerce.number().int().min(1).default(512),
      })
      .strict()
      .default({ attemptsPerProvider: 2, backoffBaseMs: 200, backoffMaxMs: 5_000, deadlineMs: 120_000, attemptTimeoutMs: 60_000, breakerFailures: 5, breakerCooldownMs: 30_000, defaultMaxTokens: 512 }),
    entitlements: z
      .object({
        /** Applies to every caller without its own entry. */
        default: Limits.default({}),
        /** Per agent (deployment name) or HTTP caller. */
        callers: z.record(z.string().min(1), Limits).default({}),
      })
      .strict()
      .default({ default: {}, callers: {} }),
    /** Where to look for Ollama when no registry is configured. */
    detectOllamaUrl: z.string().url().default('http://127.0.0.1:11434'),
  })
  .strict()
  .superRefine((c, ctx) => {
    for (const [name, p] of Object.entries(c.providers)) {
      if (p.kind === 'embedded' && !p.modelFile) ctx.addIssue({ code: 'custom', path: ['providers', name, 'modelFile'], message: 'an embedded provider needs modelFile (a GGUF file)' });
      if (p.kind !== 'embedded' && !p.url) ctx.addIssue({ code: 'custom', path: ['providers', name, 'url'], message: `a ${p.kind} provider needs url` });
    }
    for (const [name, m] of Object.entries(c.models)) {
      if (!c.providers[m.provider]) ctx.addIssue({ code: 'custom', path: ['models', name, 'provider'], message: `unknown provider "${m.provider}"; configured: ${Object.keys(c.providers).join(', ') || '(none)'}` });
      for (const f of m.fallbacks) if (!c.models[f]) ctx.addIssue({ code: 'custom', path: ['models', name, 'fallbacks'], message: `unknown model "${f}"` });
      // Only Ollama can say which version it holds or be asked to load one: elsewhere these would do nothing.
      const kind = c.providers[m.provider]?.kind;
      for (const key of ['digest', 'keepAlive'] as const) {
        if (m[key] !== undefined && kind && kind !== 'ollama') ctx.addIssue({ code: 'custom', path: ['models', name, key], message: `${key} needs an ollama provider; "${m.provider}" is ${kind}` });
      }
      if (m.keepAlive !== undefined && !m.warmUp) ctx.addIssue({ code: 'custom', path: ['models', name, 'keepAlive'], message: 'keepAlive is how long the warm-up keeps the model loaded: set warmUp: true as well' });
      if (m.warmUp && kind && kind !== 'ollama') ctx.addIssue({ code: 'custom', path: ['models', name, 'warmUp'], message: `warmUp needs an ollama provider; "${m.provider}" is ${kind}` });
    }
  });

export type LlmConfig = z.output<typeof LlmConfigSchema>;

export const LLM_ENV_VARS: Record<string, string[]> = {
  AIFLOCK_OLLAMA_URL: ['llm', 'providers', 'ollama', 'url'],
  AIFLOCK_LLM_MODEL_FILE: ['llm', 'providers', 'embedded', 'modelFile'],
  AIFLOCK_LLM_THREADS: ['llm', 'providers', 'embedded', 'threads'],
  AIFLOCK_OPENAI_URL: ['llm', 'providers', 'openai', 'url'],
  AIFLOCK_OPENAI_API_KEY: ['llm', 'providers', 'openai', 'apiKey'],
  AIFLOCK_ANTHROPIC_URL: ['llm', 'providers', 'anthropic', 'url'],
  AIFLOCK_ANTHROPIC_API_KEY: ['llm', 'providers', 'anthropic', 'apiKey'],
};
