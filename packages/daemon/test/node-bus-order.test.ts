import { describe, expect, it } from 'vitest';
import { hostPort, natsServers } from '../src/adapters/nats/server-list.js';
import { ownServersFirst } from '../src/node-agent/node-runtime.js';

/**
 * Which server a node's sandboxes dial first. Every node is handed the same cluster list by
 * the control plane; each must find the server of its own host in it by its own addresses.
 */
describe('ownServersFirst', () => {
  const list = natsServers('nats://10.0.0.1:4222,nats://10.0.0.2:4222,nats://10.0.0.3:4222').map(hostPort);

  it("puts the server at one of this host's addresses first, the rest in the list's order", () => {
    expect(ownServersFirst(list, ['127.0.0.1', '10.0.0.2', 'fe80::1']).map((s) => s.host)).toEqual(['10.0.0.2', '10.0.0.1', '10.0.0.3']);
    expect(ownServersFirst(list, ['127.0.0.1', '10.0.0.3']).map((s) => s.host)).toEqual(['10.0.0.3', '10.0.0.1', '10.0.0.2']);
  });

  it('keeps the order when no server is on this host, and counts loopback names as this host', () => {
    expect(ownServersFirst(list, ['192.168.1.5'])).toEqual(list);
    const mixed = natsServers('nats://10.0.0.1:4222,nats://127.0.0.1:4223,[::1]:4224').map(hostPort);
    expect(ownServersFirst(mixed, []).map((s) => `${s.host}:${s.port}`)).toEqual(['127.0.0.1:4223', '[::1]:4224', '10.0.0.1:4222']);
  });

  it('matches an IPv6 server given in brackets against the bare interface address', () => {
    const v6 = natsServers('nats://[fd00::1]:4222,nats://[fd00::2]:4222').map(hostPort);
    expect(ownServersFirst(v6, ['fd00::2']).map((s) => s.host)).toEqual(['[fd00::2]', '[fd00::1]']);
  });
});
