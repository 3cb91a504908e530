import type { DeclarePolicy, Perception, RecalledMemory } from '@aiflock/protocol';
import type { BoardClient, MemoryClient, MemoryKind, WorldClient } from '../bus-clients.js';
import type { TaskLogger } from '../sdk.js';
import { sleep } from '../timing.js';
import type { Decision, Policy, VillageAction } from './decision.js';

/** Time as the loop sees it; tests drive it by hand (no timing assertions). */
export interface LoopClock {
  /** Resolves true after `ms`, or false as soon as `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<boolean>;
}
export const realClock: LoopClock = { sleep };

export type WorldPort = Pick<WorldClient, 'perceive' | 'move' | 'act' | 'declare'>;
export type BoardPort = Pick<BoardClient, 'post' | 'reply' | 'list'>;
export type MemoryPort = Pick<MemoryClient, 'add' | 'recall'>;

export interface VillageLoopOptions {
  /** Milliseconds between turns (a turn still running makes the next tick a no-op). */
  every: number;
  /** A decision not made within this many milliseconds is abandoned. */
  decisionTimeout: number;
  policy: Policy;
  /** Used for a turn whose decision failed or was abandoned (the `rules` policy). */
  fallback: Policy;
  world: WorldPort;
  board: BoardPort;
  memory: MemoryPort;
  log: Pick<TaskLogger, 'info' | 'warn'>;
  clock?: LoopClock;
  /** Reflect on recent memories every this many turns. Default 20. */
  reflectEvery?: number;
}

export type TurnOutcome =
  | { kind: 'acted'; decision: Decision; abandoned: boolean }
  | { kind: 'skipped'; reason: string }
  | { kind: 'failed'; error: string };

const ACTIVITY_MAX = 200;

/** Who announcements seem to come from in what a villager hears (`aiflock broadcast`). */
export const ANNOUNCER = 'announcement';
/** Announcements kept for the next turn; a flood between two turns keeps the newest. */
const ANNOUNCEMENTS_MAX = 10;

/**
 * A villager's life: perceive (the world, its balance and tier, new replies) → decide (its
 * policy) → act (world moves and actions, board posts and replies) → reflect (memories, and
 * now and then a reflection). One decision in flight: a tick while a turn runs does nothing.
 * A decision past `decisionTimeout` is abandoned (its signal aborted) and the turn follows
 * the fallback policy; when the late answer arrives it is dropped, so it has no effect.
 */
export class VillageLoop {
  private readonly clock: LoopClock;
  private readonly reflectEvery: number;
  private current: Promise<TurnOutcome> | null = null;
  private declared: string | null = null;
  private turns = 0;
  private readonly warned = new Set<string>();
  /** Whether the policies have been told which questions are already on the board. */
  private knowsAsked = false;
  /** Announcements (`aiflock broadcast`) heard since the last turn. */
  private announcements: { from: string; text: string }[] = [];

  constructor(private readonly o: VillageLoopOptions) {
    this.clock = o.clock ?? realClock;
    this.reflectEvery = o.reflectEvery ?? 20;
  }

  /**
   * An announcement to everyone (`aiflock broadcast`): the next turn hears it as said by
   * "announcement", so the policy may react, and remembers it as weighing much.
   */
  hear(m: { from: string; text: string }): void {
    this.announcements = [...this.announcements, { from: m.from, text: m.text }].slice(-ANNOUNCEMENTS_MAX);
  }

  /** True while a turn (and so a decision) is in flight. */
  get busy(): boolean {
    return this.current !== null;
  }

  /** Start a turn unless one is running; null when this tick was skipped for that reason. */
  tick(): Promise<TurnOutcome> | null {
    if (this.current) return null;
    const turn = this.turn()
      .catch((err: unknown): TurnOutcome => {
        // A bug in a policy must not end the villager's life: say it, and try again next tick.
        this.o.log.warn(`village turn failed: ${message(err)}`);
        return { kind: 'failed', error: message(err) };
      })
      .finally(() => (this.current = null));
    this.current = turn;
    return turn;
  }

  /** Tick every `every` ms until `signal` aborts, then wait for the turn in flight. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      void this.tick();
      await this.clock.sleep(this.o.every, signal);
    }
    await this.current;
  }

  private async turn(): Promise<TurnOutcome> {
    const n = ++this.turns;
    let p: Perception;
    try {
      p = await this.o.world.perceive();
    } catch (err) {
      this.warnOnce('perceive', `cannot perceive the world: ${message(err)}`);
      return { kind: 'failed', error: message(err) };
    }
    if (p.self.status !== 'active') return { kind: 'skipped', reason: `the villager is ${p.self.status}` };
    if (!this.knowsAsked) await this.learnAsked(p.self.name);
    const announced = this.announcements;
    this.announcements = [];
    const heardAnnounced = announced.map((a) => ({ from: ANNOUNCER, text: a.text, tick: p.tick }));
    p = { ...p, heard: [...p.heard, ...heardAnnounced] };

    const { decision, abandoned } = await this.decide(p);
    await this.declare({ policy: decision.by, model: decision.model });
    await this.act(withNote(decision));
    await this.remember(p, decision, new Set(heardAnnounced));
    if (n % this.reflectEvery === 0) await this.reflect();
    return { kind: 'acted', decision, abandoned };
  }

  private async decide(p: Perception): Promise<{ decision: Decision; abandoned: boolean }> {
    const input = { perception: p, recall: (q: string) => this.recall(q) };
    const ac = new AbortController();
    const stopTimer = new AbortController();
    const TIMEOUT = Symbol('timeout');
    const answered = this.o.policy.decide(input, ac.signal).then(
      (d) => ({ d }),
      (e: unknown) => ({ e }),
    );
    const timer = this.clock.sleep(this.o.decisionTimeout, stopTimer.signal).then((fired) => (fired ? TIMEOUT : null));
    const first = await Promise.race([answered, timer.then((t) => t ?? new Promise<never>(() => undefined))]);
    stopTimer.abort();
    if (first !== TIMEOUT && 'd' in first) return { decision: first.d, abandoned: false };
    let note: string;
    if (first === TIMEOUT) {
      // Abandoned: the signal stops a model call, and nothing below ever reads `answered` again.
      ac.abort('timed_out');
      note = `no decision within ${this.o.decisionTimeout} ms`;
    } else note = message(first.e);
    this.o.log.warn(`${this.o.policy.name} policy: ${note}; following the ${this.o.fallback.name} policy this turn`);
    const d = await this.o.fallback.decide(input, new AbortController().signal);
    return { decision: { ...d, note }, abandoned: first === TIMEOUT };
  }

  private async declare(d: DeclarePolicy): Promise<void> {
    const key = `${d.policy} ${d.model ?? ''}`;
    if (key === this.declared) return;
    try {
      await this.o.world.declare(d);
      this.declared = key;
      this.o.log.info(`declared policy ${d.policy}${d.model ? ` with model ${d.model}` : ' (no model)'}`);
    } catch (err) {
      this.warnOnce('declare', `cannot declare the policy: ${message(err)}`);
    }
  }

  private async act(actions: VillageAction[]): Promise<void> {
    for (const a of actions) {
      try {
        if (a.type === 'move') await this.o.world.move(a.move);
        else if (a.type === 'act') await this.o.world.act(a.action);
        else if (a.type === 'post') await this.o.board.post({ title: a.title, body: a.body, tags: a.tags });
        else await this.o.board.reply({ postId: a.postId, body: a.body });
      } catch (err) {
        // One refused action (a wall, the board's rate limit) must not cost the rest of the turn.
        this.o.log.warn(`${describeAction(a)} failed: ${message(err)}`);
      }
    }
  }

  /** What happened this turn goes into the memory stream, the heard and the replies weighing most. */
  private async remember(p: Perception, d: Decision, announced: ReadonlySet<Perception['heard'][number]> = new Set()): Promise<void> {
    const me = p.self.name;
    const notes: { kind: MemoryKind; text: string; importance: number }[] = [];
    for (const h of p.heard) {
      // Told apart by identity, not by name: a villager called "announcement" is only a villager.
      if (announced.has(h)) notes.push({ kind: 'observation', text: `An announcement to everyone in the village: ${h.text}`, importance: 8 });
      else if (h.from !== me) notes.push({ kind: 'observation', text: `${h.from} said: ${h.text}`, importance: 4 });
    }
    for (const r of p.replies) {
      if (r.author !== `agent:${me}`) notes.push({ kind: 'reply', text: `${r.authorName} replied to my post ${r.postId}: ${r.body}`, importance: 6 });
    }
    for (const a of d.actions) {
      if (a.type === 'post') notes.push({ kind: 'action', text: `I asked on the board: ${a.title}`, importance: 5 });
      else if (a.type === 'reply') notes.push({ kind: 'action', text: `I answered on the board (${a.postId}): ${a.body}`, importance: 4 });
      else if (a.type === 'act' && a.action.type === 'talk') notes.push({ kind: 'action', text: `I said${a.action.to ? ` to ${a.action.to}` : ''}: ${a.action.text}`, importance: 3 });
    }
    for (const m of notes) {
      try {
        await this.o.memory.add({ ...m, text: m.text.slice(0, 8000) });
      } catch (err) {
        this.warnOnce('memory', `cannot write memories: ${message(err)}`);
        return;
      }
    }
  }

  private async recall(query: string): Promise<string[]> {
    return (await this.recallMemories(query)).map((m) => m.text);
  }

  private async recallMemories(query: string): Promise<RecalledMemory[]> {
    try {
      return await this.o.memory.recall(query, 5);
    } catch (err) {
      this.warnOnce('recall', `cannot recall memories: ${message(err)}`);
      return [];
    }
  }

  /**
   * Once per life: the titles it has already posted, so neither policy asks them again after
   * a restart. If the board does not answer, it tries again next turn.
   */
  private async learnAsked(me: string): Promise<void> {
    try {
      const { posts } = await this.o.board.list({ author: `agent:${me}`, limit: 200 });
      const titles = posts.map((post) => post.title);
      this.o.policy.alreadyAsked?.(titles);
      if (this.o.fallback !== this.o.policy) this.o.fallback.alreadyAsked?.(titles);
      this.knowsAsked = true;
    } catch (err) {
      this.warnOnce('board', `cannot read my own posts: ${message(err)}`);
    }
  }

  /**
   * A reflection from the policy (a model) if it has one, else the most relevant memories in
   * brief. Earlier reflections are not material for a new one: summarising a summary nests
   * ("Lately: Lately: ...") and says nothing new.
   */
  private async reflect(): Promise<void> {
    const memories = (await this.recallMemories('what mattered lately: replies, questions, conversations')).filter((m) => m.kind !== 'reflection').map((m) => m.text);
    if (memories.length === 0) return;
    let text: string | null = null;
    if (this.o.policy.reflect) {
      const ac = new AbortController();
      const timer = new AbortController();
      void this.clock.sleep(this.o.decisionTimeout, timer.signal).then((fired) => fired && ac.abort('timed_out'));
      text = await this.o.policy.reflect(memories, ac.signal).catch(() => null);
      timer.abort();
      if (ac.signal.aborted) text = null;
    }
    text ??= `Lately: ${memories.slice(0, 3).join(' | ')}`;
    try {
      await this.o.memory.add({ kind: 'reflection', text: text.slice(0, 2000), importance: 7 });
    } catch (err) {
      this.warnOnce('memory', `cannot write memories: ${message(err)}`);
    }
  }

  private warnOnce(key: string, msg: string): void {
    // Every turn would say it again; one line per distinct problem is enough to see it.
    const k = `${key} ${msg}`;
    if (this.warned.has(k)) return;
    if (this.warned.size > 100) this.warned.clear();
    this.warned.add(k);
    this.o.log.warn(msg);
  }
}

/** A fallback turn says so in the villager's activity (what the UI shows under its name). */
function withNote(d: Decision): VillageAction[] {
  if (!d.note) return d.actions;
  const note = `on my routine: ${d.note}`;
  const i = d.actions.findLastIndex((a) => a.type === 'act' && a.action.type === 'do');
  const actions = [...d.actions];
  const prev = i >= 0 ? (actions[i] as { action: { activity: string } }).action.activity : null;
  const activity = (prev ? `${prev} (${note})` : note).slice(0, ACTIVITY_MAX);
  if (i >= 0) actions[i] = { type: 'act', action: { type: 'do', activity } };
  else actions.push({ type: 'act', action: { type: 'do', activity } });
  return actions;
}

function describeAction(a: VillageAction): string {
  if (a.type === 'move') return `move ${JSON.stringify(a.move)}`;
  if (a.type === 'act') return `action ${a.action.type}`;
  return a.type === 'post' ? 'board post' : `board reply to ${a.postId}`;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
