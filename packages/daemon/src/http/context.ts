import type { DeploymentService, LlmGateway, Store, TaskService } from '@aiflock/core';
import type { SystemStatus } from '@aiflock/protocol';

/** What the HTTP layer may use; it never reaches adapters directly. */
export interface ApiContext {
  deployments: DeploymentService;
  tasks: TaskService;
  store: Store;
  /** The LLM gateway, or null with the reason (no provider configured or reachable). */
  llm: { gateway: LlmGateway | null; detail: string };
  status(): Promise<SystemStatus>;
  readiness(): Promise<Record<string, { ok: boolean; detail: string }>>;
  /** Stop the daemon; with `stopFlock`, also every instance and the spawned NATS server. */
  shutdown(opts: { stopFlock: boolean }): void;
}
