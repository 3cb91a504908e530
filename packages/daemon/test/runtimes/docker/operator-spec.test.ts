import { describe, expect, it } from 'vitest';
import type { SandboxSpec } from '@aiflock/core';
import { OPERATOR_CAPABILITIES, operatorContainerSpec, type OperatorSpecContext } from '../../../src/adapters/runtimes/docker/operator-spec.js';
import { expectFlockSeccomp } from './seccomp-expect.js';

const ctx: OperatorSpecContext = { flock: 'prod', node: 'node-a', sharedDir: '/srv/flock/shared', socketDir: '/run/aiflock-prod-operator/builder-ab12cd34', egress: false };

function spec(over: Partial<SandboxSpec> = {}): SandboxSpec {
  return {
    instanceId: 'builder-ab12cd34',
    agent: 'builder',
    image: 'aiflock/agent:latest',
    profile: 'operator',
    env: {
      AIFLOCK_INSTANCE_ID: 'builder-ab12cd34',
      AIFLOCK_AGENT: 'builder',
      AIFLOCK_NATS_URL: 'nats://172.30.0.1:4222',
      HTTP_PROXY: 'http://172.30.0.1:3128',
      HTTPS_PROXY: 'http://172.30.0.1:3128',
    },
    resources: { cpu: 0.5, memoryBytes: 256 * 1024 ** 2, pids: 64, tmpBytes: 64 * 1024 ** 2 },
    manifestDigest: 'sha256:abc',
    ...over,
  };
}

const envOf = (c: ReturnType<typeof operatorContainerSpec>) => Object.fromEntries((c.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));

describe('operatorContainerSpec', () => {
  const c = operatorContainerSpec(spec(), ctx);
  const h = c.HostConfig!;

  it('is root inside with a writable root filesystem, and says so in a label', () => {
    expect(c.User).toBe('0:0');
    expect(h.ReadonlyRootfs).toBe(false);
    expect(c.Labels!['aiflock.profile']).toBe('operator');
    expect(envOf(c)['PATH']).toBe('/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  });

  it("keeps Docker's default capabilities minus the dangerous ones, and no more", () => {
    expect(h.CapDrop).toEqual(['ALL']);
    expect(h.CapAdd).toEqual([...OPERATOR_CAPABILITIES]);
    for (const dangerous of ['NET_RAW', 'MKNOD', 'AUDIT_WRITE', 'SETFCAP', 'SYS_CHROOT', 'SYS_ADMIN', 'SYS_MODULE', 'SYS_PTRACE', 'NET_ADMIN', 'DAC_READ_SEARCH']) {
      expect(h.CapAdd).not.toContain(dangerous);
    }
    expectFlockSeccomp(h);
    expect(h.Privileged).toBe(false);
    // Never the host's user namespace: that would make container root host root.
    expect(h.UsernsMode).toBeUndefined();
  });

  it('has every limit of the restricted profile', () => {
    expect(h.Memory).toBe(256 * 1024 ** 2);
    expect(h.MemorySwap).toBe(256 * 1024 ** 2);
    expect(h.NanoCpus).toBe(5e8);
    expect(h.PidsLimit).toBe(64);
    expect(h.Tmpfs!['/tmp']).toBe(`rw,noexec,nosuid,nodev,size=${64 * 1024 ** 2}`);
    expect(h.Ulimits).toContainEqual({ Name: 'core', Soft: 0, Hard: 0 });
  });

  it('has no network: loopback only, the bus through its socket, no ports', () => {
    expect(h.NetworkMode).toBe('none');
    expect(c.NetworkingConfig).toBeUndefined();
    expect(h.PortBindings).toEqual({});
    expect(c.ExposedPorts).toEqual({});
    const env = envOf(c);
    expect(env['AIFLOCK_NATS_URL']).toBe('nats://127.0.0.1:4222');
    expect(env['AIFLOCK_BUS_SOCKET']).toBe('/run/aiflock-sockets/bus.sock');
    expect(h.Mounts).toContainEqual({ Type: 'bind', Source: ctx.socketDir, Target: '/run/aiflock-sockets', ReadOnly: true });
  });

  it('learns of the proxy only when it has egress rules, and then as its own loopback relay', () => {
    const without = envOf(c);
    for (const v of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy', 'AIFLOCK_PROXY_SOCKET']) expect(without[v]).toBeUndefined();
    const withEgress = envOf(operatorContainerSpec(spec(), { ...ctx, egress: true }));
    expect(withEgress['HTTP_PROXY']).toBe('http://127.0.0.1:3128');
    expect(withEgress['https_proxy']).toBe('http://127.0.0.1:3128');
    expect(withEgress['AIFLOCK_PROXY_SOCKET']).toBe('/run/aiflock-sockets/proxy.sock');
  });

  it('mounts its own workspace read-write and /shared/common read-only, nothing of other agents', () => {
    expect(h.Mounts!.map((m) => [m.Source, m.Target, m.ReadOnly])).toEqual([
      ['/srv/flock/shared/agents/builder', '/shared/agents/builder', false],
      ['/srv/flock/shared/common', '/shared/common', true],
      ['/srv/flock/shared/logs/builder-ab12cd34', '/shared/logs/builder-ab12cd34', false],
      [ctx.socketDir, '/run/aiflock-sockets', true],
    ]);
  });

  it('a manifest cannot point the runtime at another socket or bus', () => {
    const env = envOf(operatorContainerSpec(spec({ env: { ...spec().env, AIFLOCK_BUS_SOCKET: '/shared/common/evil.sock', AIFLOCK_PROXY_SOCKET: '/x', AIFLOCK_WORKSPACE: '/shared/agents/other' } }), ctx));
    expect(env['AIFLOCK_BUS_SOCKET']).toBe('/run/aiflock-sockets/bus.sock');
    expect(env['AIFLOCK_PROXY_SOCKET']).toBeUndefined();
    expect(env['AIFLOCK_WORKSPACE']).toBe('/shared/agents/builder');
  });
});

describe('operatorContainerSpec refuses', () => {
  it('the restricted profile (that one runs on the main engine)', () => {
    expect(() => operatorContainerSpec(spec({ profile: 'restricted' }), ctx)).toThrowError(/operator profile/);
  });

  it.each([
    ['a path-like agent', { agent: '../etc', instanceId: '../etc-ab12cd34' }],
    ['an instance of another agent', { instanceId: 'other-ab12cd34' }],
    ['no pids limit', { resources: { cpu: 0.5, memoryBytes: 256 * 1024 ** 2, pids: 0, tmpBytes: 1 } }],
    ['a NUL in the environment', { env: { X: 'a\0b' } }],
  ])('%s', (_what, over) => {
    expect(() => operatorContainerSpec(spec(over as Partial<SandboxSpec>), ctx)).toThrow(expect.objectContaining({ code: 'validation_failed' }));
  });
});
