import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NodeReports, type Bus, type Fleet, type NodeService, type NodeView, type RemoteInstance } from '@aiflock/core';
import type { NodeDesiredInstance, NodeDesiredState } from '@aiflock/protocol';
import { CREDS_FILE } from '../adapters/nats/jwt-credentials.js';

/**
 * The reconciler's way to the joined nodes: their views from the node service, their reports
 * from heartbeats, and their desired state out on `nodectl.<name>.desired`. The last set each
 * node was given is sent again with each of its heartbeats (with its instances' credentials as
 * they are now: they are renewed before they expire), so a node agent that restarted, or
 * missed a message, converges within one heartbeat.
 */
export class BusFleet implements Fleet {
  readonly reports = new NodeReports();
  private service: NodeService | null = null;
  private readonly last = new Map<string, RemoteInstance[]>();

  constructor(private readonly bus: Bus) {}

  /** The node service is made after the reconciler (it needs the bus started); until then only the local node is known. */
  attach(service: NodeService): void {
    this.service = service;
  }

  async nodes(): Promise<NodeView[]> {
    return this.service ? this.service.list() : [];
  }

  async publish(node: string, instances: RemoteInstance[]): Promise<void> {
    this.last.set(node, instances);
    await this.send(node);
  }

  /** Again what `node` was last given (on its heartbeat). */
  async resend(node: string): Promise<void> {
    if (this.last.has(node)) await this.send(node);
  }

  forget(node: string): void {
    this.last.delete(node);
    this.reports.forget(node);
  }

  private async send(node: string): Promise<void> {
    const instances = await Promise.all((this.last.get(node) ?? []).map(desiredInstance));
    const state: NodeDesiredState = { node, ts: new Date().toISOString(), instances };
    await this.bus.publishNodeDesired?.(node, state);
  }
}

async function desiredInstance({ spec, credentialsDir, frozen }: RemoteInstance): Promise<NodeDesiredInstance> {
  // The credentials directory is the control plane's (renewals rename a new file into it).
  const creds = credentialsDir ? await readFile(join(credentialsDir, CREDS_FILE), 'utf8').catch(() => null) : null;
  return {
    instanceId: spec.instanceId,
    agent: spec.agent,
    image: spec.image,
    profile: spec.profile,
    manifestDigest: spec.manifestDigest,
    env: spec.env,
    resources: spec.resources,
    secretFiles: spec.secretFiles ?? {},
    creds,
    frozen: frozen === true,
  };
}
