import type { AuditLog, ContextService, DeploymentService, MemoryService, Store, TaskService } from '@aiflock/core';
import type { SystemStatus } from '@aiflock/protocol';

/** What the HTTP layer may use; it never reaches adapters directly. */
export interface ApiContext {
  deployments: DeploymentService;
  tasks: TaskService;
  store: Store;
  audit: AuditLog;
  /** The memory and context plane: ingest, search, packs, export/import. */
  context: ContextService;
  /** Agents' memory streams (agents reach theirs over the bus; people read with context:read). */
  memory: MemoryService;
  /** Stream a consistent copy of the store; null when the backend is backed up with its own tools. */
  backup: ((file: string) => Promise<void>) | null;
  status(): Promise<SystemStatus>;
  readiness(): Promise<Record<string, { ok: boolean; detail: string }>>;
  /** Stop the daemon; with `stopFlock`, also every instance and the spawned NATS server. */
  shutdown(opts: { stopFlock: boolean }): void;
}
