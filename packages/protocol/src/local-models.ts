import * as z from 'zod';

/**
 * Managing the models of the flock's local model server (Ollama): `aiflock models
 * list|pull|rm` and `/v1/llm/models...` (admin). Only an Ollama provider can do this; any
 * other answers `llm_models_unmanaged`.
 */

/** An Ollama model name: `qwen2.5:7b`, `library/llama3:latest`, `hf.co/org/repo:Q4_K_M`. */
export const LocalModelName = z
  .string()
  .min(1)
  .max(300)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._\-/:]*$/, 'a model name such as qwen2.5:7b (letters, digits and . _ - / :)');

/** `?provider=`: which Ollama provider of the config; left out, the only one there is. */
export const LocalModelsQuery = z.object({ provider: z.string().min(1).optional() }).strict();

export const LocalModelParams = z.object({ name: LocalModelName }).strict();

/** A config pin (`llm.models.<alias>.digest`) for a model this server holds or should hold. */
export const ModelPin = z.object({
  /** The registry alias that pins it. */
  alias: z.string(),
  digest: z.string(),
  /** `ok`: the server's digest is the pinned one; `mismatch`: it holds another; `missing`: it has no such model. */
  state: z.enum(['ok', 'mismatch', 'missing']),
});
export type ModelPin = z.infer<typeof ModelPin>;

export const LocalModel = z.object({
  name: LocalModelName,
  /** `sha256:<hex>` of the model's manifest, as Ollama reports it. */
  digest: z.string(),
  sizeBytes: z.number().int().nonnegative(),
  modifiedAt: z.string().nullable(),
  family: z.string().nullable(),
  parameterSize: z.string().nullable(),
  quantization: z.string().nullable(),
  /** Registry aliases that point at it. */
  aliases: z.array(z.string()),
});
export type LocalModel = z.infer<typeof LocalModel>;

export const LocalModelList = z.object({
  provider: z.string(),
  url: z.string(),
  models: z.array(LocalModel),
  /** Every pin the config has for this provider, checked against what the server holds. */
  pins: z.array(ModelPin),
});
export type LocalModelList = z.infer<typeof LocalModelList>;

export const ModelPullRequest = z.object({ name: LocalModelName, provider: z.string().min(1).optional() }).strict();
export type ModelPullRequest = z.infer<typeof ModelPullRequest>;

/**
 * One line of a pull's progress (`application/x-ndjson`), as Ollama streams it: a status,
 * and for a layer being downloaded its digest with bytes total and completed. The last line
 * is `{status: "success", digest}` (the pulled model's digest) or `{error}`.
 */
export const ModelPullProgress = z.object({
  status: z.string().optional(),
  digest: z.string().optional(),
  total: z.number().int().optional(),
  completed: z.number().int().optional(),
  error: z.string().optional(),
});
export type ModelPullProgress = z.infer<typeof ModelPullProgress>;

export const ModelDeleted = z.object({ provider: z.string(), name: LocalModelName, deleted: z.literal(true) });
export type ModelDeleted = z.infer<typeof ModelDeleted>;

/** `POST /v1/llm/reload`: what the gateway serves after re-reading the config file's llm section. */
export const LlmReloaded = z.object({
  providers: z.array(z.string()),
  models: z.array(z.string()),
  /** One sentence, as /v1/status gives it. */
  detail: z.string(),
});
export type LlmReloaded = z.infer<typeof LlmReloaded>;
