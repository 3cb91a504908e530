/**
 * Per-instance bus credentials. The adapter issues each instance its own identity scoped by
 * the bus contract, renews it while the instance lives and revokes it when the instance is
 * removed, quarantined or killed, cutting its connection.
 */
export interface IssuedCredentials {
  /** Opaque to the core: where the runtime finds the credentials to hand to the sandbox. */
  dir: string;
  expiresAt: string | null;
}

export interface BusCredentials {
  /** False when the bus runs without authentication: any sandbox could then speak as any agent. */
  readonly enforced: boolean;
  readonly detail: string;
  issue(instanceId: string, agent: string): Promise<IssuedCredentials | null>;
  /**
   * Bind an instance's credentials to the address its sandbox reaches the bus from, once the
   * runtime knows it (`null`: the runtime relays the sandbox through the daemon). Idempotent;
   * unknown instances are ignored. Optional: a bus that cannot restrict where a client
   * connects from does not implement it.
   */
  bind?(instanceId: string, address: string | null): Promise<void>;
  /** Idempotent; unknown instances are ignored. */
  revoke(instanceId: string, reason: string): Promise<void>;
  /** Revoke every issued identity whose instance is not in `live`. */
  retain(live: ReadonlySet<string>): Promise<void>;
}

/** For a bus without authentication (development only, reported as not enforced). */
export const noBusCredentials: BusCredentials = {
  enforced: false,
  detail: 'bus authentication is off: any sandbox can publish as any agent',
  issue: async () => null,
  revoke: async () => undefined,
  retain: async () => undefined,
};
