import { VILLAGE_PERSONA_MAX, type VillageSettings } from '@aiflock/protocol';
import type { Manifest } from './schema.js';

/**
 * `AIFLOCK_VILLAGE` for a villager's sandbox: the manifest's `village` section with the
 * persona and model its loop prompts with. The persona is cut to what the environment
 * carries comfortably (a long one would not fit a small model's prompt anyway).
 */
export function villageEnv(m: Manifest): string {
  if (!m.village) throw new Error(`manifest ${m.name} has no village section`);
  const settings: VillageSettings = {
    policy: m.village.policy,
    every: m.village.every,
    decisionTimeout: m.village.decisionTimeout,
    ...(m.village.home ? { home: m.village.home } : {}),
    persona: m.persona.slice(0, VILLAGE_PERSONA_MAX),
    model: m.model?.name ?? null,
  };
  return JSON.stringify(settings);
}
