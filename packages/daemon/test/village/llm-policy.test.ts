import { DecisionError, LlmClient, LlmPolicy, RulesPolicy, VillageLoop, actionJsonSchema, type LlmPort } from '@aiflock/agent';
import type { ActionRequest, DeclarePolicy, Landmark, LlmChatResult, Perception } from '@aiflock/protocol';
import type { NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayOverBus, type GatewayOverBus } from '../llm/gateway-over-bus.js';
import { STORIES_MODEL } from '../llm/model-file.js';

/**
 * The `llm` village policy against the real gateway over a real bus: the daemon's NatsBus
 * and RPC router, the gateway with the embedded GGUF story model (a completion model that
 * knows nothing of villages), and the SDK's client on its own connection. The JSON-schema
 * format is what makes its answers actions. A second, Ollama-wire provider scripts answers
 * that are not valid actions, to prove those turns fall back to the rules.
 */
let h: GatewayOverBus;
let ol: GatewayOverBus['ol'];
let agentNc: NatsConnection;

const LANDMARKS: Landmark[] = [
  { name: 'home', kind: 'home', label: 'Home', x: 1, y: 1, width: 3, height: 3, entry: { x: 2, y: 3 } },
  { name: 'cafe', kind: 'cafe', label: 'Café', x: 10, y: 1, width: 4, height: 3, entry: { x: 11, y: 3 } },
  { name: 'board', kind: 'board', label: 'Bulletin board', x: 15, y: 12, width: 2, height: 1, entry: { x: 15, y: 13 } },
  { name: 'park', kind: 'park', label: 'Park', x: 3, y: 18, width: 8, height: 6, entry: { x: 6, y: 17 } },
];

function perception(over: Partial<Perception> = {}): Perception {
  return {
    tick: 7,
    self: { name: 'baker', x: 2, y: 3, activity: 'resting', goal: null, said: null, policy: 'llm', model: null, status: 'active' },
    landmarks: LANDMARKS,
    at: 'home',
    nearby: [],
    heard: [],
    economy: { balanceCents: 2500, tier: 1, tierName: 'basic' },
    replies: [],
    ...over,
  };
}

const SITUATIONS: Perception[] = [
  perception(),
  perception({ at: 'cafe', nearby: [{ name: 'sam', x: 11, y: 3, activity: 'drinking coffee' }], heard: [{ from: 'sam', text: 'Good morning, Bea!', tick: 6 }] }),
  perception({ at: 'board', replies: [{ postId: 'post_aaaaaaaaaaaaaaaaaaaaaaa', replyId: 'reply_1', author: 'human:alice', authorName: 'alice', body: 'Try the mill by the river.' }] }),
  perception({ at: null }),
];

beforeAll(async () => {
  h = await startGatewayOverBus({
    name: 'village-llm',
    instances: [['baker-1', 'baker']],
    llm: (ol) => ({
      providers: { embedded: { modelFile: STORIES_MODEL, contextSize: 1024 }, ollama: { url: ol.url } },
      models: {
        default: { provider: 'embedded', model: 'stories260K' },
        scripted: { provider: 'ollama', model: 'm' },
        tooled: { provider: 'ollama', model: 'm', capabilities: ['chat', 'stream', 'tools', 'json'] },
      },
      policy: { attemptsPerProvider: 1 },
    }),
  });
  ol = h.ol;
  agentNc = await h.connect({ name: 'village-llm-policy' });
}, 60_000);

afterAll(async () => {
  await h?.close();
});

/** The real client, keeping each raw answer so the test can check it against the schema. */
function recordingClient(): LlmPort & { answers: string[] } {
  const client = new LlmClient(agentNc, 'baker-1');
  const answers: string[] = [];
  return {
    answers,
    async chat(req, opts) {
      const r: LlmChatResult = await client.chat(req, opts);
      answers.push(r.text);
      return r;
    },
  };
}

const VARIANT_KEYS: Record<string, string[]> = { walk: ['action', 'to'], talk: ['action', 'text', 'to'], post: ['action', 'body', 'title'], reply: ['action', 'text', 'which'], do: ['action', 'activity'], rest: ['action'] };

describe('llm village policy through the gateway', () => {
  it('gets schema-valid actions from the embedded story model, over the bus', async () => {
    const port = recordingClient();
    const policy = new LlmPolicy({ agent: 'baker', persona: 'You are Bea, the village baker. You love bread.', llm: port, model: null, temperature: 0 });
    const outcomes: string[] = [];
    for (const p of SITUATIONS) {
      const d = await policy.decide({ perception: p, recall: async () => ['Sam likes rye bread.'] }, new AbortController().signal).catch((e: unknown) => e);
      if (d instanceof DecisionError) {
        // Well-formed but not doable this turn (a reply that is not there): never malformed.
        expect(d.message).toMatch(/^the model's answer is not a valid action \(/);
        outcomes.push('invalid');
        continue;
      }
      if (d instanceof Error) throw d;
      const decision = d as Awaited<ReturnType<LlmPolicy['decide']>>;
      expect(decision).toMatchObject({ by: 'llm', model: 'embedded/default' });
      expect(decision.actions.length).toBeGreaterThan(0);
      outcomes.push('valid');
    }
    expect(port.answers).toHaveLength(SITUATIONS.length);
    const landmarks = LANDMARKS.map((l) => l.name);
    for (const raw of port.answers) {
      const a = JSON.parse(raw) as Record<string, unknown>;
      expect(Object.keys(VARIANT_KEYS)).toContain(a['action']);
      expect(Object.keys(a).sort()).toEqual(VARIANT_KEYS[a['action'] as string]);
      if (a['action'] === 'walk') expect(landmarks).toContain(a['to']);
    }
    // The format makes even this model's answers actions.
    expect(outcomes.filter((o) => o === 'valid').length).toBeGreaterThanOrEqual(SITUATIONS.length - 1);
  }, 120_000);

  it('refuses an answer that is not a valid action, naming why', async () => {
    const policy = new LlmPolicy({ agent: 'baker', persona: '', llm: recordingClient(), model: 'scripted' });
    const decide = () => policy.decide({ perception: perception(), recall: async () => [] }, new AbortController().signal);
    ol.next({ kind: 'reply', text: '{"action":"walk","to":"moon"}' });
    await expect(decide()).rejects.toThrow(/^the model's answer is not a valid action \(to: no such landmark\)$/);
    ol.next({ kind: 'reply', text: 'Once upon a time' });
    await expect(decide()).rejects.toThrow(/^the model's answer is not JSON/);
    ol.next({ kind: 'reply', text: '{"action":"reply","which":"1","text":"thanks"}' });
    await expect(decide()).rejects.toThrow(/which: there is no such reply to answer/);
    ol.next({ kind: 'reply', text: '{"action":"walk","to":"cafe"}' });
    await expect(decide()).resolves.toEqual({
      actions: [
        { type: 'move', move: { to: 'cafe' } },
        { type: 'act', action: { type: 'do', activity: 'walking to the Café' } },
      ],
      by: 'llm',
      model: 'ollama/scripted',
    });
  });

  it("decides with native tool calling when the model has it: the world's actions are its tools", async () => {
    const policy = new LlmPolicy({ agent: 'baker', persona: '', llm: recordingClient(), model: 'tooled' });
    const before = ol.requests.length;
    ol.next({ kind: 'reply', toolCalls: [{ id: 'c1', name: 'walk', arguments: { to: 'park' } }] });
    await expect(policy.decide({ perception: perception(), recall: async () => [] }, new AbortController().signal)).resolves.toEqual({
      actions: [
        { type: 'move', move: { to: 'park' } },
        { type: 'act', action: { type: 'do', activity: 'walking to the Park' } },
      ],
      by: 'llm',
      model: 'ollama/tooled',
    });
    const sent = ol.requests.slice(before).find((r) => r.path === '/api/chat')!.body as { tools: { function: { name: string } }[]; format?: unknown };
    expect(sent.tools.map((t) => t.function.name)).toEqual(['walk', 'talk', 'post', 'reply', 'do', 'rest']);
    expect(sent.format).toBeUndefined();
    // A tool call the turn cannot do is refused like any invalid answer.
    ol.next({ kind: 'reply', toolCalls: [{ id: 'c2', name: 'walk', arguments: { to: 'moon' } }] });
    await expect(policy.decide({ perception: perception(), recall: async () => [] }, new AbortController().signal)).rejects.toThrow(/to: no such landmark/);
  });

  it('says the model did not answer when the gateway refuses the call', async () => {
    const policy = new LlmPolicy({ agent: 'baker', persona: '', llm: recordingClient(), model: 'no-such-model' });
    await expect(policy.decide({ perception: perception(), recall: async () => [] }, new AbortController().signal)).rejects.toThrow(/^the model did not answer \(/);
  });

  it('in the loop, an invalid answer is a rules turn that is declared and said in the activity', async () => {
    const acts: ActionRequest[] = [];
    const declares: DeclarePolicy[] = [];
    const world = {
      perceive: async () => perception({ at: null }),
      move: async () => ({ goal: null, path: 0 }),
      act: async (a: ActionRequest) => void acts.push(a),
      declare: async (d: DeclarePolicy) => void declares.push(d),
    };
    const loop = new VillageLoop({
      every: 1000,
      decisionTimeout: 60_000,
      policy: new LlmPolicy({ agent: 'baker', persona: '', llm: recordingClient(), model: 'scripted' }),
      fallback: new RulesPolicy({ agent: 'baker', persona: '', home: 'home' }),
      world,
      board: { post: async () => ({}) as never, reply: async () => ({}) as never, list: async () => ({ posts: [], next: null }) },
      memory: { add: async () => ({ id: 'm', importance: 1 }), recall: async () => [] },
      log: { info: () => undefined, warn: () => undefined },
    });
    ol.next({ kind: 'reply', text: '{"action":"talk","to":"sam","text":"hi"}' });
    const outcome = await loop.tick();
    expect(outcome).toMatchObject({ kind: 'acted', decision: { by: 'rules' } });
    expect(declares).toEqual([{ policy: 'rules', model: null }]);
    expect(acts.at(-1)).toMatchObject({ type: 'do', activity: expect.stringContaining('to: Invalid option') });
    ol.next({ kind: 'reply', text: '{"action":"rest"}' });
    await loop.tick();
    expect(declares.at(-1)).toEqual({ policy: 'llm', model: 'ollama/scripted' });
    expect(acts.at(-1)).toEqual({ type: 'rest' });
  });

  it('asks for output constrained to the map it is on', () => {
    const schema = actionJsonSchema(['home', 'cafe']) as { oneOf: { properties: { action: { const: string }; to?: { enum?: string[] } } }[] };
    expect(schema.oneOf.map((v) => v.properties.action.const)).toEqual(['walk', 'talk', 'post', 'reply', 'do', 'rest']);
    expect(schema.oneOf[0]!.properties.to!.enum).toEqual(['home', 'cafe']);
  });
});
