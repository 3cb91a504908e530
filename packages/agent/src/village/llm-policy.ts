import * as z from 'zod';
import type { LlmChatResult, LlmChatRpc, Perception } from '@aiflock/protocol';
import { DecisionError, type Decision, type DecideInput, type Policy, type VillageAction } from './decision.js';
import { LlmError } from '../llm-client.js';

/** What the policy needs of the gateway client (the SDK's LlmClient). */
export interface LlmPort {
  chat(req: LlmChatRpc, opts?: { signal?: AbortSignal }): Promise<LlmChatResult>;
}

export interface LlmPolicyOptions {
  agent: string;
  persona: string;
  llm: LlmPort;
  /** The manifest's model; the gateway's default for this agent when null. */
  model: string | null;
  maxTokens?: number;
  temperature?: number;
}

/** Bounds on every string, so even a rambling model closes its JSON within `maxTokens`. */
const TEXT = 80;
const TITLE = 60;
const BODY = 160;
const ACTIVITY = 60;
/**
 * Whom to talk to: the nearest villager or everyone in earshot. Names are not offered: they
 * change turn by turn (the schema would too), and a small model invents them.
 */
const LISTENERS = ['nearest', 'everyone'] as const;
/** Replies offered to the model by number (a model cannot be trusted to copy an id). */
const REPLY_SLOTS = ['1', '2', '3'] as const;
const PERSONA_PROMPT = 1_500;

/**
 * The JSON Schema the model's output is constrained to (the embedded provider turns it into
 * a grammar, so even a tiny story model yields one of these objects). It depends only on
 * the map's landmarks, so the gateway's grammar cache stays small; everything that changes
 * turn by turn (who is near, which replies) is checked afterwards by `answerSchema`.
 */
export function actionJsonSchema(landmarks: readonly string[]): Record<string, unknown> {
  const str = (min: number, max: number) => ({ type: 'string', minLength: min, maxLength: max });
  const variant = (action: string, props: Record<string, unknown> = {}) => ({
    type: 'object',
    properties: { action: { const: action }, ...props },
    required: ['action', ...Object.keys(props)],
  });
  return {
    oneOf: [
      ...(landmarks.length ? [variant('walk', { to: { enum: [...landmarks] } })] : []),
      variant('talk', { to: { enum: [...LISTENERS] }, text: str(1, TEXT) }),
      variant('post', { title: str(3, TITLE), body: str(1, BODY) }),
      variant('reply', { which: { enum: [...REPLY_SLOTS] }, text: str(1, TEXT) }),
      variant('do', { activity: str(1, ACTIVITY) }),
      variant('rest'),
    ],
  };
}

/**
 * The same actions as native tools (OpenAI `tools`, Ollama `tools`, Anthropic `tool_use`), one
 * tool per action: a tool-capable model calls one, the way the agent loop's models call theirs.
 */
export function worldTools(landmarks: readonly string[]): { name: string; description: string; parameters: Record<string, unknown> }[] {
  const { oneOf } = actionJsonSchema(landmarks) as { oneOf: { properties: Record<string, unknown>; required: string[] }[] };
  return oneOf.map((v) => {
    const { action, ...props } = v.properties as { action: { const: string } } & Record<string, unknown>;
    return {
      name: action.const,
      description: ACTION_HELP[action.const] ?? action.const,
      parameters: { type: 'object', properties: props, required: v.required.filter((r) => r !== 'action') },
    };
  });
}

const ACTION_HELP: Record<string, string> = {
  walk: 'Walk to a place in the village.',
  talk: 'Say something to the nearest villager or to everyone in earshot.',
  post: 'Post a question on the bulletin board for people to answer.',
  reply: 'Reply to one of the replies to your posts, by its number.',
  do: 'Do something where you are (it shows as your activity).',
  rest: 'Rest for a turn.',
};

/** The same shapes in zod, with this turn's facts: the landmark exists, the listener is near, the reply is there. */
export function answerSchema(p: Perception) {
  const landmarks = new Set(p.landmarks.map((l) => l.name));
  const text = (max: number) => z.string().trim().min(1, 'empty text').max(max);
  return z.discriminatedUnion('action', [
    z.object({ action: z.literal('walk'), to: z.string().refine((t) => landmarks.has(t), { message: 'no such landmark' }) }).strict(),
    z.object({ action: z.literal('talk'), to: z.enum(LISTENERS), text: text(TEXT) }).strict(),
    z.object({ action: z.literal('post'), title: z.string().trim().min(3, 'a title of at least 3 characters').max(TITLE), body: text(BODY) }).strict(),
    z
      .object({
        action: z.literal('reply'),
        which: z.enum(REPLY_SLOTS).refine((w) => Number(w) <= p.replies.length, { message: 'there is no such reply to answer' }),
        text: text(TEXT),
      })
      .strict(),
    z.object({ action: z.literal('do'), activity: text(ACTIVITY) }).strict(),
    z.object({ action: z.literal('rest') }).strict(),
  ]);
}

export type Answer = z.infer<ReturnType<typeof answerSchema>>;

/** The model's answer as actions; throws DecisionError naming what was wrong. */
export function actionsOf(raw: string, p: Perception): VillageAction[] {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new DecisionError(`the model's answer is not JSON: ${JSON.stringify(raw.slice(0, 80))}`);
  }
  const r = answerSchema(p).safeParse(json);
  if (!r.success) {
    throw new DecisionError(`the model's answer is not a valid action (${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')})`);
  }
  const a = r.data;
  switch (a.action) {
    case 'walk':
      return [{ type: 'move', move: { to: a.to } }, { type: 'act', action: { type: 'do', activity: `walking to the ${labelOf(p, a.to)}` } }];
    case 'talk': {
      // With nobody near, "nearest" is said aloud: whoever passes within earshot hears it.
      const to = a.to === 'nearest' ? nearest(p) : undefined;
      return [{ type: 'act', action: to ? { type: 'talk', to, text: a.text } : { type: 'talk', text: a.text } }];
    }
    case 'post':
      return [{ type: 'post', title: a.title, body: a.body, tags: ['question'] }];
    case 'reply': {
      const target = p.replies[Number(a.which) - 1]!;
      return [{ type: 'reply', postId: target.postId, body: a.text }];
    }
    case 'do':
      return [{ type: 'act', action: { type: 'do', activity: a.activity } }];
    case 'rest':
      return [{ type: 'act', action: { type: 'rest' } }];
  }
}

/**
 * Decides through the gateway: a prompt from the persona, the perception and recalled
 * memories, and an answer constrained to `actionJsonSchema`, then checked with zod. A
 * failed call or an invalid answer is a DecisionError; the loop then follows the `rules`
 * policy for that turn and says so.
 */
export class LlmPolicy implements Policy {
  readonly name = 'llm' as const;
  /** Until the gateway says this model cannot call tools. */
  private toolsWork = true;
  constructor(private readonly o: LlmPolicyOptions) {}

  async decide(input: DecideInput, signal: AbortSignal): Promise<Decision> {
    const p = input.perception;
    const memories = await input.recall(situation(p)).catch(() => []);
    const landmarks = p.landmarks.map((l) => l.name);
    const ask = (tools: boolean) =>
      this.o.llm.chat(
        {
          ...(this.o.model ? { model: this.o.model } : {}),
          messages: [
            { role: 'system', content: this.system() },
            { role: 'user', content: prompt(p, memories) },
          ],
          params: {
            maxTokens: this.o.maxTokens ?? 300,
            temperature: this.o.temperature ?? 0.7,
            ...(tools ? { tools: worldTools(landmarks) } : { format: { schema: actionJsonSchema(landmarks) } }),
          },
        },
        { signal },
      );
    let result: LlmChatResult;
    try {
      try {
        result = await ask(this.toolsWork);
      } catch (err) {
        // A model without tool calling (the embedded story model) answers in constrained JSON
        // instead; remembered, so later turns ask that way at once.
        if (!(this.toolsWork && err instanceof LlmError && err.code === 'llm_capability_unsupported' && ((err.details as { missing?: string[] } | undefined)?.missing ?? []).includes('tools'))) throw err;
        this.toolsWork = false;
        result = await ask(false);
      }
    } catch (err) {
      // This text ends up in the villager's activity, under its name in the UI: a flock with no
      // model says so plainly (the gateway's diagnostic is in the daemon's log); anything
      // else is the first line of the error, bounded.
      if (err instanceof LlmError && err.code === 'llm_unavailable') throw new DecisionError('no LLM is reachable in this flock');
      const why = (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 120);
      throw new DecisionError(`the model did not answer (${why})`);
    }
    // One action a turn: the first tool call, else the answer's text as JSON.
    const call = result.toolCalls[0];
    const answer = call ? JSON.stringify({ action: call.name, ...call.arguments }) : result.text;
    return { actions: actionsOf(answer, p), by: 'llm', model: modelLabel(result) };
  }

  async reflect(memories: string[], signal: AbortSignal): Promise<string | null> {
    if (memories.length === 0) return null;
    const r = await this.o.llm.chat(
      {
        ...(this.o.model ? { model: this.o.model } : {}),
        messages: [
          { role: 'system', content: this.system() },
          { role: 'user', content: `Recent memories:\n${memories.map((m) => `- ${m}`).join('\n')}\n\nIn one sentence, what have you learned lately?` },
        ],
        params: { maxTokens: 80, temperature: 0.7 },
      },
      { signal },
    );
    const text = r.text.trim().slice(0, 500);
    return text.length > 0 ? text : null;
  }

  private system(): string {
    const persona = this.o.persona.trim().slice(0, PERSONA_PROMPT) || `You are ${this.o.agent}, a villager.`;
    return `${persona}\n\nYou live in a village with other villagers. Each turn you choose exactly one action: call one of your tools, or, if you have none, answer with the action as JSON.`;
  }
}

/** "embedded/default": the provider and the gateway's model name, as the UI shows it. */
export function modelLabel(r: Pick<LlmChatResult, 'provider' | 'model'>): string {
  return `${r.provider}/${r.model}`.slice(0, 200);
}

function nearest(p: Perception): string | undefined {
  const d = (v: { x: number; y: number }) => Math.abs(v.x - p.self.x) + Math.abs(v.y - p.self.y);
  return [...p.nearby].filter((v) => v.name !== p.self.name).sort((a, b) => d(a) - d(b) || a.name.localeCompare(b.name))[0]?.name;
}

function labelOf(p: Perception, name: string): string {
  return p.landmarks.find((l) => l.name === name)?.label ?? name;
}

function situation(p: Perception): string {
  const parts = [p.at ? `at the ${labelOf(p, p.at)}` : 'walking', ...p.nearby.map((n) => n.name), ...p.heard.map((h) => h.text), ...p.replies.map((r) => r.body)];
  return parts.join(' ').slice(0, 500);
}

function prompt(p: Perception, memories: string[]): string {
  const lines = [
    `You are ${p.at ? `at the ${labelOf(p, p.at)}` : `at tile ${p.self.x},${p.self.y}`}; you are ${p.self.activity || 'idle'}.`,
    `Places: ${p.landmarks.map((l) => `${l.name} (${l.label})`).join(', ') || 'none'}.`,
    `Near you: ${p.nearby.map((n) => `${n.name} (${n.activity || 'idle'})`).join(', ') || 'nobody'}.`,
    `Your money: ${(p.economy.balanceCents / 100).toFixed(2)} aiDollars, tier ${p.economy.tierName}.`,
  ];
  if (p.heard.length) lines.push('You heard:', ...p.heard.slice(-5).map((h) => `- ${h.from}: ${h.text}`));
  if (p.replies.length) lines.push('Replies to your posts (answer one with action "reply" and which = its number):', ...p.replies.slice(0, REPLY_SLOTS.length).map((r, i) => `${i + 1}. ${r.authorName}: ${r.body.slice(0, 200)}`));
  if (memories.length) lines.push('You remember:', ...memories.slice(0, 5).map((m) => `- ${m.slice(0, 200)}`));
  lines.push('Choose one action: walk to a place, talk to the nearest villager or everyone, post a question on the board, reply, do something, or rest.');
  return lines.join('\n');
}
