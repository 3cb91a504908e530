import { noBusCredentials, Presence, Reconciler, systemClock, type Fleet, type SandboxRuntime, type Store } from '@aiflock/core';

/** A reconciler over a real store and a stand-in runtime, with the bus parts it needs stubbed (no bus credentials). */
export function testReconciler(deps: { store: Store; runtime: SandboxRuntime; node: string; fleet?: Fleet }): Reconciler {
  return new Reconciler({
    store: deps.store,
    runtime: deps.runtime,
    clock: systemClock,
    presence: new Presence(),
    defaultImage: 'aiflock/agent:latest',
    busUrl: () => 'nats://127.0.0.1:4222',
    credentials: noBusCredentials,
    busConnectedSince: () => new Date(),
    node: deps.node,
    ...(deps.fleet ? { fleet: deps.fleet } : {}),
    log: () => undefined,
  });
}
