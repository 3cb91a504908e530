import type { Landmark, Perception } from '@aiflock/protocol';
import type { Decision, DecideInput, Policy, VillageAction } from './decision.js';
import { parsePersona, seededRandom, type PersonaNotes } from './persona.js';

export interface RulesOptions {
  agent: string;
  persona: string;
  home?: string | undefined;
  /** Seeds the villager's own choices (route order, when it asks); the agent name by default. */
  seed?: string;
}

/** Turns between greeting the same neighbour again, and between answering the same speaker. */
const GREET_AGAIN_AFTER = 6;
const ANSWER_AGAIN_AFTER = 2;
/**
 * Turns between two lines of its own: in a crowd someone always has just spoken, and a
 * villager that answered every line would never walk on or ask anything again.
 */
const QUIET_TURNS = 3;
/**
 * Talk to someone only this close (tiles, the larger of the two axes): what a villager sees
 * reaches further than what is heard, and the world refuses a line to someone out of
 * earshot (its default hearing radius is 5).
 */
const EARSHOT = 4;
/** Most replies thanked in one turn (the board limits posts per minute). */
const THANKS_PER_TURN = 2;

/**
 * The deterministic policy: the same perceptions give the same decisions for the same seed.
 * In order of priority each turn: thank new replies to its posts, ask its due question if it
 * stands at the board, answer someone who spoke to it, greet a neighbour it has not greeted
 * lately (never two lines within QUIET_TURNS), go to the board when a question is due, else
 * walk its persona's route between landmarks, lingering a turn at each.
 */
export class RulesPolicy implements Policy {
  readonly name = 'rules' as const;
  private readonly notes: PersonaNotes;
  private readonly me: string;
  private readonly home: string | undefined;
  private readonly shuffle: number[];
  private readonly postEvery: number;
  private turn = 0;
  private leg = 0;
  private lingered = 0;
  private lastPost: number;
  private lastSpoke = -Infinity;
  private question = 0;
  /** Questions already on the board (asked by this villager, now or before a restart). */
  private readonly asked = new Set<string>();
  private saying = 0;
  private readonly lastTalk = new Map<string, number>();
  private readonly thanked = new Set<string>();
  private route: string[] | null = null;

  constructor(opts: RulesOptions) {
    this.me = opts.agent;
    this.home = opts.home;
    this.notes = parsePersona(opts.agent, opts.persona);
    const rnd = seededRandom(opts.seed ?? opts.agent);
    this.shuffle = Array.from({ length: 64 }, () => rnd());
    this.postEvery = 8 + Math.floor(rnd() * 5);
    // The first question comes after 2-4 turns, so a new village soon has something on its board.
    this.lastPost = 2 + Math.floor(rnd() * 3) - this.postEvery;
    this.question = Math.floor(rnd() * this.notes.questions.length);
    this.saying = Math.floor(rnd() * this.notes.sayings.length);
  }

  alreadyAsked(titles: readonly string[]): void {
    for (const t of titles) this.asked.add(t);
  }

  decide(input: DecideInput): Promise<Decision> {
    return Promise.resolve(this.next(input.perception));
  }

  /** The decision for this perception, advancing the policy's own state. Synchronous and pure of I/O. */
  next(p: Perception): Decision {
    this.turn++;
    const actions = this.thank(p) ?? this.postHere(p) ?? this.answer(p) ?? this.greet(p) ?? this.ask(p) ?? this.walk(p);
    return { actions, by: 'rules', model: null };
  }

  private thank(p: Perception): VillageAction[] | null {
    const fresh = p.replies.filter((r) => r.author !== `agent:${this.me}` && !this.thanked.has(r.replyId)).slice(0, THANKS_PER_TURN);
    if (fresh.length === 0) return null;
    const out: VillageAction[] = [{ type: 'act', action: { type: 'do', activity: 'reading replies to my question' } }];
    for (const r of fresh) {
      this.thanked.add(r.replyId);
      out.push({ type: 'reply', postId: r.postId, body: `Thank you, ${r.authorName}! That helps; I will try it.` });
    }
    return out;
  }

  private answer(p: Perception): VillageAction[] | null {
    if (this.turn - this.lastSpoke < QUIET_TURNS) return null;
    const near = new Set(p.nearby.filter((n) => inEarshot(p, n)).map((n) => n.name));
    const h = p.heard.find((l) => l.from !== this.me && near.has(l.from) && this.turn - (this.lastTalk.get(l.from) ?? -Infinity) >= ANSWER_AGAIN_AFTER);
    if (!h) return null;
    this.lastTalk.set(h.from, this.turn);
    this.lastSpoke = this.turn;
    const speaker = p.nearby.find((n) => n.name === h.from);
    return [{ type: 'act', action: { type: 'talk', to: h.from, text: `Nice to hear from you, ${callName(speaker ?? { name: h.from })}. ${this.nextSaying()}` } }];
  }

  private greet(p: Perception): VillageAction[] | null {
    if (this.turn - this.lastSpoke < QUIET_TURNS) return null;
    const n = p.nearby.find((v) => v.name !== this.me && inEarshot(p, v) && this.turn - (this.lastTalk.get(v.name) ?? -Infinity) >= GREET_AGAIN_AFTER);
    if (!n) return null;
    this.lastTalk.set(n.name, this.turn);
    this.lastSpoke = this.turn;
    return [{ type: 'act', action: { type: 'talk', to: n.name, text: `Hello ${callName(n)}, it is ${this.notes.name}. ${this.nextSaying()}` } }];
  }

  /** A question that is due, asked now because it stands at the board: before any chat. */
  private postHere(p: Perception): VillageAction[] | null {
    const board = boardOf(p);
    return board && p.at === board.name ? this.ask(p) : null;
  }

  /**
   * Its next question not yet on the board. Each is asked once: a villager posting the same
   * question again and again reads as broken (and spams the board). When all are asked it
   * asks nothing more; it still reads and thanks replies.
   */
  private nextQuestion(): string | null {
    const qs = this.notes.questions;
    for (let i = 0; i < qs.length; i++) {
      const q = qs[(this.question + i) % qs.length]!;
      if (!this.asked.has(q)) {
        this.question += i + 1;
        return q;
      }
    }
    return null;
  }

  private ask(p: Perception): VillageAction[] | null {
    if (this.turn - this.lastPost < this.postEvery) return null;
    if (this.notes.questions.every((q) => this.asked.has(q))) return null;
    const board = boardOf(p);
    if (board && p.at !== board.name) {
      if (headingTo(p, board)) return [];
      return [
        { type: 'move', move: { to: board.name } },
        { type: 'act', action: { type: 'do', activity: `walking to the ${board.label} to ask something` } },
      ];
    }
    const q = this.nextQuestion();
    if (q === null) return null;
    this.lastPost = this.turn;
    this.asked.add(q);
    const out: VillageAction[] = board ? [{ type: 'act', action: { type: 'use_board' } }] : [];
    out.push({ type: 'post', title: q, body: `${q}\n\n(asked by ${this.notes.name})`, tags: ['question'] });
    return out;
  }

  private walk(p: Perception): VillageAction[] {
    const route = this.routeOf(p.landmarks);
    if (route.length === 0) return [{ type: 'act', action: { type: 'rest' } }];
    const target = p.landmarks.find((l) => l.name === route[this.leg % route.length])!;
    if (p.at === target.name) {
      if (this.lingered < 1) {
        this.lingered++;
        return [{ type: 'act', action: { type: 'do', activity: `${verbAt(target)} at the ${target.label}` } }];
      }
      this.leg++;
      this.lingered = 0;
      const next = p.landmarks.find((l) => l.name === route[this.leg % route.length])!;
      if (next.name === target.name) return [{ type: 'act', action: { type: 'do', activity: `${verbAt(target)} at the ${target.label}` } }];
      return goTo(next);
    }
    return headingTo(p, target) ? [] : goTo(target);
  }

  /** The persona's route (landmarks that exist), else every landmark in a seeded order, from home. */
  private routeOf(landmarks: readonly Landmark[]): string[] {
    if (this.route) return this.route;
    const names = new Set(landmarks.map((l) => l.name));
    let route = this.notes.route.filter((n) => names.has(n));
    if (route.length === 0) {
      const sorted = landmarks.map((l) => l.name).sort();
      route = sorted.map((n, i) => ({ n, k: this.shuffle[i % this.shuffle.length]! })).sort((a, b) => a.k - b.k).map((x) => x.n);
    }
    if (this.home && names.has(this.home)) route = [this.home, ...route.filter((n) => n !== this.home)];
    // Remembered once the map is known: the route must not change under a villager mid-walk.
    if (landmarks.length > 0) this.route = route;
    return route;
  }

  private nextSaying(): string {
    return this.notes.sayings[this.saying++ % this.notes.sayings.length]!;
  }
}

function boardOf(p: Perception): Landmark | undefined {
  return p.landmarks.find((l) => l.kind === 'board' || l.name === 'board');
}

function inEarshot(p: Perception, v: { x: number; y: number }): boolean {
  return Math.max(Math.abs(v.x - p.self.x), Math.abs(v.y - p.self.y)) <= EARSHOT;
}

function goTo(l: Landmark): VillageAction[] {
  return [
    { type: 'move', move: { to: l.name } },
    { type: 'act', action: { type: 'do', activity: `walking to the ${l.label}` } },
  ];
}

function headingTo(p: Perception, l: Landmark): boolean {
  return p.self.goal !== null && p.self.goal.x === l.entry.x && p.self.goal.y === l.entry.y;
}

function verbAt(l: Landmark): string {
  const verbs: Record<string, string> = { cafe: 'having a coffee', market: 'shopping', park: 'taking a walk', board: 'reading the board', home: 'resting', library: 'reading' };
  return verbs[l.kind] ?? verbs[l.name] ?? 'spending time';
}

/** What to call a neighbour: the name the village knows it by, its agent name failing that. */
function callName(v: { name: string; displayName?: string | undefined }): string {
  return v.displayName ?? v.name;
}
