/**
 * What the `rules` policy takes from a persona (`agent.md` body): optional sections
 * `## Route` (landmark names, comma-separated or listed), `## Questions` and `## Sayings`
 * (lists). A persona without them still works, with plain defaults.
 */
export interface PersonaNotes {
  /** A short name for the villager, from "You are <Name>," or the agent name. */
  name: string;
  route: string[];
  questions: string[];
  sayings: string[];
}

const DEFAULT_QUESTIONS = ['What is everyone working on today?', 'Does anyone need a hand with something?', 'What should the village build next?'];
const DEFAULT_SAYINGS = ['Good to see you!', 'Lovely day in the village.', 'How is your day going?'];

export function parsePersona(agent: string, persona: string): PersonaNotes {
  const sections = new Map<string, string[]>();
  let current: string[] | null = null;
  for (const line of persona.split(/\r?\n/)) {
    const heading = /^#{2,3}\s+(.+?)\s*$/.exec(line);
    if (heading) {
      current = [];
      sections.set(heading[1]!.toLowerCase(), current);
    } else if (current) current.push(line);
  }
  const items = (key: string) =>
    (sections.get(key) ?? [])
      .map((l) => l.replace(/^\s*(?:[-*]|\d+\.)\s+/, '').trim())
      .filter(Boolean);
  const route = items('route')
    .flatMap((l) => l.split(','))
    .map((s) => s.trim().toLowerCase())
    .filter((s) => /^[a-z][a-z0-9-]{0,31}$/.test(s));
  const named = /\bYou are ([A-Z][\w-]{0,30})/.exec(persona);
  const questions = items('questions').map((q) => q.slice(0, 200));
  const sayings = items('sayings').map((s) => s.slice(0, 200));
  return {
    name: named?.[1] ?? agent,
    route,
    questions: questions.length ? questions : DEFAULT_QUESTIONS,
    sayings: sayings.length ? sayings : DEFAULT_SAYINGS,
  };
}

/** A small seeded generator (mulberry32), so a villager's choices repeat for the same seed. */
export function seededRandom(seed: string): () => number {
  let h = 2166136261;
  for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 16777619);
  let a = h >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
