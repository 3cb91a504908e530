import * as z from 'zod';

/** `aiflock broadcast "<text>"`: an announcement from an admin to every running instance. */
export const BroadcastRequest = z.object({ text: z.string().trim().min(1, 'the announcement text').max(4000) }).strict();
export type BroadcastRequest = z.infer<typeof BroadcastRequest>;

/**
 * What travels on the `broadcast` subject (only the control plane may publish there; every
 * instance may subscribe). `from` is the admin identity that sent it.
 */
export const BroadcastMessage = z
  .object({
    id: z.string().min(1).max(100),
    text: z.string().min(1).max(4000),
    from: z.string().min(1).max(200),
    sentAt: z.string(),
  })
  .strict();
export type BroadcastMessage = z.infer<typeof BroadcastMessage>;
