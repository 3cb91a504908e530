import * as z from 'zod';
import { Perception } from './world.js';

/**
 * `GET /v1/agents/{name}/sight`: what a villager perceives now, for a person or an outside
 * agent watching it. Unlike the agent's own `world.perceive` it consumes nothing: the lines
 * heard and the board replies stay unread for the agent, so the answer leaves out the replies
 * and the economy (both are the agent's to read) and takes the tick to list heard lines after.
 */
export const WorldSightQuery = z
  .object({
    /** Heard lines after this tick; 0 lists every line the villager still remembers (the last 20). */
    heardSince: z.coerce.number().int().min(0).default(0),
  })
  .strict();
export type WorldSightQuery = z.output<typeof WorldSightQuery>;

export const WorldSight = Perception.omit({ economy: true, replies: true });
export type WorldSight = z.infer<typeof WorldSight>;
