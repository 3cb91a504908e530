import { AuthorNames, BoardService, ComputeService, Ledger, PaymentsService, RewardService, type AuditLog, type Clock, type Store } from '@aiflock/core';
import type { Config } from './config.js';
import type { ApiContext } from './http/context.js';

/** The aiDollar ledger and what builds on it: tiers, rewards, payments, the board. */
export function economyServices(e: Config['economy'], store: Store, audit: AuditLog, clock: Clock): ApiContext['economy'] {
  const ledger = new Ledger({ store: store.ledger, audit, clock });
  return {
    ledger,
    compute: new ComputeService({ ledger, ledgerStore: store.ledger, controls: store.computeControls, audit, clock, tiers: e.tiers }),
    rewards: new RewardService({
      ledger,
      board: store.board,
      clock,
      limits: e.rewards,
      // The recorded owner is the identity that deployed the agent; older records only have the manifest's word.
      ownerOf: async (agent) => {
        const d = await store.deployments.get(agent);
        return d?.owner ?? d?.manifest.owner ?? null;
      },
    }),
    payments: new PaymentsService({ ledger, ledgerStore: store.ledger }),
    board: new BoardService({ store: store.board, ledger, ledgerStore: store.ledger, audit, clock, limits: e.board }),
    names: new AuthorNames(async (id) => (await store.tokens.get(id))?.name),
    webhook: { secret: e.webhook.secret ?? null, toleranceSeconds: e.webhook.toleranceSeconds },
  };
}
