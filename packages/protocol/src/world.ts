import * as z from 'zod';
import { AgentName } from './names.js';

/**
 * The village's wire shapes, shared by the world engine (daemon), the agent SDK (over the bus,
 * `agent.<id>.rpc.world.<op>`), the HTTP API (`/v1/world`, `/v1/agents/{name}/move|action`)
 * and the web UI (`WS /v1/ws/world`). Positions are whole tiles; (0,0) is the top-left tile.
 * A villager is a deployment (agent name): its replicas share one body.
 */

export const Tile = z.object({ x: z.number().int().min(0).max(4095), y: z.number().int().min(0).max(4095) }).strict();
export type Tile = z.infer<typeof Tile>;

export const LandmarkName = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'a landmark name such as "cafe" or "board"');

/** A named zone of the map (a Tiled object-layer rectangle); `entry` is the tile agents walk to. */
export const Landmark = z.object({
  name: LandmarkName,
  kind: z.string().min(1).max(32),
  label: z.string().min(1).max(80),
  x: z.number().int(),
  y: z.number().int(),
  width: z.number().int().min(1),
  height: z.number().int().min(1),
  entry: Tile,
});
export type Landmark = z.infer<typeof Landmark>;

export const VillagePolicy = z.enum(['llm', 'rules']);
export type VillagePolicy = z.infer<typeof VillagePolicy>;

/** `active` moves and acts; `quarantined` (kill switch) and `frozen` (compute frozen) stand still. */
export const VillagerStatus = z.enum(['active', 'quarantined', 'frozen', 'away']);
export type VillagerStatus = z.infer<typeof VillagerStatus>;

export const Villager = z.object({
  name: AgentName,
  /** What the village calls it ("Bea"), from its manifest's `village.displayName`; the agent name when absent. */
  displayName: z.string().min(1).max(40).optional(),
  x: z.number().int(),
  y: z.number().int(),
  /** What it is doing, in a few words for the UI ("walking to the café", "reading the board"). */
  activity: z.string().max(200),
  /** Where it is heading, if walking a path. */
  goal: Tile.nullable(),
  /** Its last line said aloud, with the tick it was said at. */
  said: z.object({ text: z.string().max(500), to: AgentName.nullable(), tick: z.number().int() }).nullable(),
  policy: VillagePolicy,
  /** The model its `llm` policy uses, or null (rules, or no model reachable: said plainly in the UI). */
  model: z.string().nullable(),
  status: VillagerStatus,
});
export type Villager = z.infer<typeof Villager>;

export const WorldSnapshot = z.object({
  /** The sequence number of the last delta folded into this snapshot. */
  seq: z.number().int().min(0),
  tick: z.number().int().min(0),
  tickMs: z.number().int().min(1),
  map: z.object({ name: z.string(), width: z.number().int(), height: z.number().int(), tileSize: z.number().int() }),
  landmarks: z.array(Landmark),
  villagers: z.array(Villager),
});
export type WorldSnapshot = z.infer<typeof WorldSnapshot>;

/** One change, as the engine applied it. */
export const WorldChange = z.discriminatedUnion('type', [
  z.object({ type: z.literal('joined'), villager: Villager }),
  z.object({ type: z.literal('left'), name: AgentName }),
  z.object({ type: z.literal('moved'), name: AgentName, x: z.number().int(), y: z.number().int() }),
  z.object({ type: z.literal('goal'), name: AgentName, goal: Tile.nullable() }),
  z.object({ type: z.literal('activity'), name: AgentName, activity: z.string().max(200) }),
  z.object({ type: z.literal('said'), name: AgentName, text: z.string().max(500), to: AgentName.nullable() }),
  z.object({ type: z.literal('status'), name: AgentName, status: VillagerStatus }),
  z.object({ type: z.literal('policy'), name: AgentName, policy: VillagePolicy, model: z.string().nullable() }),
]);
export type WorldChange = z.infer<typeof WorldChange>;

/** The changes of one tick; `seq` increases by one per delta with no gaps. */
export const WorldDelta = z.object({ seq: z.number().int().min(1), tick: z.number().int().min(0), changes: z.array(WorldChange).min(1) });
export type WorldDelta = z.infer<typeof WorldDelta>;

/**
 * `WS /v1/ws/world` server messages: one `snapshot` first, then `delta`s in `seq` order. A client
 * that falls behind (its send buffer over the limit) gets a fresh `snapshot` instead of the
 * deltas it missed, so a delta with `seq` other than last+1 never arrives.
 */
export const WorldMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('snapshot'), snapshot: WorldSnapshot }),
  z.object({ type: z.literal('delta'), delta: WorldDelta }),
]);
export type WorldMessage = z.infer<typeof WorldMessage>;

/**
 * A move: one step (`dx`,`dy` each -1, 0 or 1, applied on the next tick), a target tile, or a
 * landmark; the last two walk an A* path at one tile per tick. A new move replaces the goal.
 */
export const MoveRequest = z.union([
  z.object({ dx: z.number().int().min(-1).max(1), dy: z.number().int().min(-1).max(1) }).strict(),
  z.object({ x: z.number().int().min(0), y: z.number().int().min(0) }).strict(),
  z.object({ to: LandmarkName }).strict(),
]);
export type MoveRequest = z.infer<typeof MoveRequest>;

/**
 * An action. `talk` is heard by villagers within `hearingRadius` tiles (or one named listener
 * there); `use_board` needs the villager at the board landmark and marks it reading the board
 * (posting itself goes through the board ops); `do` sets a free-form activity; `rest` stops.
 */
export const ActionRequest = z.discriminatedUnion('type', [
  z.object({ type: z.literal('talk'), text: z.string().trim().min(1, 'something to say').max(500), to: AgentName.optional() }).strict(),
  z.object({ type: z.literal('use_board') }).strict(),
  z.object({ type: z.literal('do'), activity: z.string().trim().min(1).max(200) }).strict(),
  z.object({ type: z.literal('rest') }).strict(),
]);
export type ActionRequest = z.infer<typeof ActionRequest>;

/** What `world.perceive` answers an agent: itself, what is near, and its standing in the economy. */
export const Perception = z.object({
  tick: z.number().int(),
  self: Villager,
  landmarks: z.array(Landmark),
  /** The landmark the villager stands in, if any. */
  at: LandmarkName.nullable(),
  /** Who is near, with what the village calls each (`displayName`), so a villager greets "Bea", not "baker". */
  nearby: z.array(Villager.pick({ name: true, displayName: true, x: true, y: true, activity: true })),
  /** Lines said to or near it since its last perception. */
  heard: z.array(z.object({ from: AgentName, text: z.string(), tick: z.number().int() })),
  economy: z.object({ balanceCents: z.number().int(), tier: z.number().int(), tierName: z.string() }),
  /**
   * Replies to its posts since its last perception: post id, reply id, author (identity) and
   * authorName (what to call them: a person's token name, an agent's name; never a token id).
   */
  replies: z.array(z.object({ postId: z.string(), replyId: z.string(), author: z.string(), authorName: z.string(), body: z.string() })),
});
export type Perception = z.infer<typeof Perception>;

// World ops on the bus (`world.perceive|move|act|declare`) are catalogued in `agent-ops.ts`.
export const DeclarePolicy = z.object({ policy: VillagePolicy, model: z.string().max(200).nullable() }).strict();
export type DeclarePolicy = z.infer<typeof DeclarePolicy>;

/** `GET /v1/world/map`: the map in Tiled's own JSON format (.tmj, tilesets embedded), which the web UI draws. */
export const TiledMapJson = z.record(z.string(), z.unknown()).describe('a Tiled map (.tmj) with its tilesets embedded; see the Tiled JSON map format');

/** `{ok: true}`: the world accepted the action for its next tick. */
export const Accepted = z.object({ ok: z.literal(true) });
