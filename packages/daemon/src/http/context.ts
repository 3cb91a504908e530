import type { AuditLog, BoardService, ComputeService, DeploymentService, Ledger, PaymentsService, RewardService, Store, TaskService } from '@aiflock/core';
import type { SystemStatus } from '@aiflock/protocol';

/** What the HTTP layer may use; it never reaches adapters directly. */
export interface ApiContext {
  deployments: DeploymentService;
  tasks: TaskService;
  store: Store;
  audit: AuditLog;
  economy: {
    ledger: Ledger;
    compute: ComputeService;
    rewards: RewardService;
    payments: PaymentsService;
    board: BoardService;
    /** The payments webhook's HMAC key (null: the webhook is disabled) and timestamp window. */
    webhook: { secret: string | null; toleranceSeconds: number };
  };
  /** Stream a consistent copy of the store; null when the backend is backed up with its own tools. */
  backup: ((file: string) => Promise<void>) | null;
  status(): Promise<SystemStatus>;
  readiness(): Promise<Record<string, { ok: boolean; detail: string }>>;
  /** Stop the daemon; with `stopFlock`, also every instance and the spawned NATS server. */
  shutdown(opts: { stopFlock: boolean }): void;
}
