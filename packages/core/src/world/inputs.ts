import { z } from 'zod';
import { ActionRequest, AgentName, LandmarkName, MoveRequest, VillagePolicy, VillagerStatus } from '@aiflock/protocol';

/**
 * Every change to the world is one of these inputs, queued and applied in order at the next
 * tick: agents' moves and actions (bus), people's moves and actions (HTTP, `world:act`), and
 * the control plane's joins, leaves and status changes (deploy, remove, kill switch, compute
 * freeze). The input log persisted between snapshots is a list of these, so the schema is
 * also what a replay reads back.
 */
export const WorldInput = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('join'), name: AgentName, displayName: z.string().min(1).max(40).optional(), policy: VillagePolicy, model: z.string().nullable(), home: LandmarkName.nullable(), status: VillagerStatus }).strict(),
  z.object({ kind: z.literal('leave'), name: AgentName }).strict(),
  z.object({ kind: z.literal('status'), name: AgentName, status: VillagerStatus }).strict(),
  z.object({ kind: z.literal('declare'), name: AgentName, policy: VillagePolicy, model: z.string().max(200).nullable() }).strict(),
  z.object({ kind: z.literal('move'), name: AgentName, move: MoveRequest }).strict(),
  z.object({ kind: z.literal('act'), name: AgentName, action: ActionRequest }).strict(),
]);
export type WorldInput = z.infer<typeof WorldInput>;

/** The inputs applied at one tick, in order: one row of the input log. */
export const LoggedInputs = z.object({ tick: z.number().int().min(1), inputs: z.array(WorldInput).min(1) }).strict();
export type LoggedInputs = z.infer<typeof LoggedInputs>;
