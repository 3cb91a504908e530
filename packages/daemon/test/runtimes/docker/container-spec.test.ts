import { describe, expect, it } from 'vitest';
import type { SandboxSpec } from '@aiflock/core';
import { containerSpec, type ContainerSpecContext } from '../../../src/adapters/runtimes/docker/container-spec.js';
import { bridgeInterfaceName, firewallChainNames } from '../../../src/adapters/runtimes/docker/names.js';
import { HostFirewall, type CommandRunner } from '../../../src/adapters/runtimes/docker/host-firewall.js';
import { expectFlockSeccomp } from './seccomp-expect.js';

const ctx: ContainerSpecContext = { flock: 'prod', node: 'node-a', network: 'aiflock-prod', gatewayIp: '172.30.0.1', sharedDir: '/srv/flock/shared' };

function spec(over: Partial<SandboxSpec> = {}): SandboxSpec {
  return {
    instanceId: 'scribe-ab12cd34',
    agent: 'scribe',
    image: 'aiflock/agent:latest',
    profile: 'restricted',
    env: { AIFLOCK_INSTANCE_ID: 'scribe-ab12cd34', AIFLOCK_AGENT: 'scribe', AIFLOCK_NATS_URL: 'nats://172.30.0.1:4222' },
    resources: { cpu: 0.5, memoryBytes: 256 * 1024 ** 2, pids: 64, tmpBytes: 64 * 1024 ** 2 },
    manifestDigest: 'sha256:abc',
    ...over,
  };
}

const containerEnv = (c: ReturnType<typeof containerSpec>) => Object.fromEntries((c.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));

describe('containerSpec (restricted profile)', () => {
  const c = containerSpec(spec(), ctx);
  const h = c.HostConfig!;

  it('runs as the unprivileged sandbox user with a read-only root', () => {
    expect(c.User).toBe('1001:1001');
    expect(c.Hostname).toBe('scribe-ab12cd34');
    expect(c.name).toBe('aiflock-prod-scribe-ab12cd34');
    expect(h.ReadonlyRootfs).toBe(true);
    expect(h.Tmpfs).toEqual({
      '/tmp': `rw,noexec,nosuid,nodev,size=${64 * 1024 ** 2},uid=1001,gid=1001`,
      '/run': 'rw,noexec,nosuid,nodev,size=16m,uid=1001,gid=1001',
    });
  });

  it("health-checks the runtime's liveness file at a pace that follows the manifest's heartbeat", () => {
    expect(containerEnv(c).AIFLOCK_LIVENESS_FILE).toBe('/run/aiflock-alive');
    const hc = c.Healthcheck!;
    expect(hc.Test).toEqual(['CMD-SHELL', 'test "$(date +%s)" -le "$(cat /run/aiflock-alive 2>/dev/null || echo 0)"']);
    // No heartbeat given: the runtime's 30 s default, checked every 15 s.
    expect(hc.Interval).toBe(15_000 * 1e6);
    expect(hc.Retries).toBe(1);
    const fast = containerSpec(spec({ env: { ...spec().env, AIFLOCK_HEARTBEAT_MS: '4000' } }), ctx).Healthcheck!;
    expect(fast.Interval).toBe(2_000 * 1e6);
    // Never below Docker's floor of a second, however fast the heartbeat.
    expect(containerSpec(spec({ env: { ...spec().env, AIFLOCK_HEARTBEAT_MS: '500' } }), ctx).Healthcheck!.Interval).toBe(1_000 * 1e6);
  });

  it('drops every capability and privilege escalation', () => {
    expect(h.CapDrop).toEqual(['ALL']);
    expect(h.CapAdd ?? []).toEqual([]);
    expectFlockSeccomp(h);
    expect(h.Privileged).toBe(false);
    expect(h.IpcMode).toBe('private');
  });

  it('always sets cpu, memory (no swap) and pids limits', () => {
    expect(h.Memory).toBe(256 * 1024 ** 2);
    expect(h.MemorySwap).toBe(h.Memory);
    expect(h.NanoCpus).toBe(500_000_000);
    expect(h.PidsLimit).toBe(64);
    expect(h.Ulimits).toContainEqual({ Name: 'nofile', Soft: 4096, Hard: 4096 });
    expect(h.Init).toBe(true);
  });

  it('joins only the flock network, publishes nothing, and has no way out via DNS or IPv6', () => {
    expect(h.NetworkMode).toBe('aiflock-prod');
    expect(Object.keys(c.NetworkingConfig?.EndpointsConfig ?? {})).toEqual(['aiflock-prod']);
    expect(h.PortBindings ?? {}).toEqual({});
    expect(h.PublishAllPorts).toBe(false);
    expect(c.ExposedPorts ?? {}).toEqual({});
    expect(h.Dns).toEqual(['172.30.0.1']);
    expect(h.Sysctls?.['net.ipv6.conf.all.disable_ipv6']).toBe('1');
  });

  it('keeps running without the daemon, with bounded restarts and logs', () => {
    expect(h.RestartPolicy).toEqual({ Name: 'on-failure', MaximumRetryCount: 5 });
    expect(h.LogConfig).toEqual({ Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } });
  });

  it('mounts exactly its own workspace (rw), common (ro) and its own log file (rw)', () => {
    expect(h.Binds ?? []).toEqual([]);
    expect(h.Mounts).toEqual([
      { Type: 'bind', Source: '/srv/flock/shared/agents/scribe', Target: '/shared/agents/scribe', ReadOnly: false },
      { Type: 'bind', Source: '/srv/flock/shared/common', Target: '/shared/common', ReadOnly: true },
      { Type: 'bind', Source: '/srv/flock/shared/logs/scribe-ab12cd34', Target: '/shared/logs/scribe-ab12cd34', ReadOnly: false },
    ]);
  });

  it('labels the container so a restarted daemon can find it', () => {
    expect(c.Labels).toEqual({
      'aiflock.managed': 'true',
      'aiflock.flock': 'prod',
      'aiflock.agent': 'scribe',
      'aiflock.instance': 'scribe-ab12cd34',
      'aiflock.digest': 'sha256:abc',
      'aiflock.node': 'node-a',
    });
  });

  it("passes exactly the given env plus the three storage paths, the network gate, the liveness file, and the documents' names for the same values", () => {
    expect([...c.Env!].sort()).toEqual(
      [
        'AIFLOCK_INSTANCE_ID=scribe-ab12cd34',
        'AIFLOCK_AGENT=scribe',
        'AIFLOCK_NATS_URL=nats://172.30.0.1:4222',
        'AIFLOCK_SHARED_DIR=/shared',
        'AIFLOCK_WORKSPACE=/shared/agents/scribe',
        'AIFLOCK_LOG_FILE=/shared/logs/scribe-ab12cd34/agent.log',
        'AIFLOCK_NETWORK_GATE=127.0.0.11:53',
        'AIFLOCK_LIVENESS_FILE=/run/aiflock-alive',
        'AGENT_ID=scribe-ab12cd34',
        'NATS_URL=nats://172.30.0.1:4222',
        'SHARED_DIR=/shared',
      ].sort(),
    );
  });

  it('does not let env redirect the storage paths to another agent', () => {
    const e = containerSpec(spec({ env: { AIFLOCK_WORKSPACE: '/shared/agents/other', AIFLOCK_LOG_FILE: '/etc/passwd' } }), ctx).Env!;
    expect(e).toContain('AIFLOCK_WORKSPACE=/shared/agents/scribe');
    expect(e).toContain('AIFLOCK_LOG_FILE=/shared/logs/scribe-ab12cd34/agent.log');
    expect(e.filter((x) => x.startsWith('AIFLOCK_WORKSPACE='))).toHaveLength(1);
  });
});

describe('containerSpec: GPUs', () => {
  it('asks the NVIDIA runtime for exactly the GPUs the manifest names, and for none when it names none', () => {
    const withGpus = containerSpec(spec({ resources: { cpu: 1, memoryBytes: 1024 ** 3, pids: 64, tmpBytes: 64 * 1024 ** 2, gpus: 2 } }), ctx).HostConfig!;
    expect(withGpus.DeviceRequests).toEqual([{ Driver: 'nvidia', Count: 2, Capabilities: [['gpu']] }]);
    expect(containerSpec(spec(), ctx).HostConfig!.DeviceRequests).toBeUndefined();
  });
});

describe('containerSpec: secrets', () => {
  it('mounts the secret files read-only at /run/secrets and never puts a value in the environment', () => {
    const value = 'ghp_supersecretvalue';
    const c = containerSpec(spec({ secretFiles: { tok: value } }), { ...ctx, secretsDir: '/dev/shm/aiflock-prod-secrets/scribe-ab12cd34' });
    expect(c.HostConfig!.Mounts).toContainEqual({ Type: 'bind', Source: '/dev/shm/aiflock-prod-secrets/scribe-ab12cd34', Target: '/run/secrets', ReadOnly: true });
    expect(JSON.stringify(c)).not.toContain(value);
    const without = containerSpec(spec(), ctx);
    expect(without.HostConfig!.Mounts!.map((m) => m.Target)).not.toContain('/run/secrets');
  });
});

describe('containerSpec refuses', () => {
  it('the operator profile on the main engine, clearly (it runs only on the remapped operator engine)', () => {
    expect(() => containerSpec(spec({ profile: 'operator' }), ctx)).toThrowError(/"operator" cannot run on the main Docker engine.*never silently downgraded/);
    try {
      containerSpec(spec({ profile: 'operator' }), ctx);
    } catch (err) {
      expect(err).toMatchObject({ name: 'FlockError', code: 'validation_failed', status: 400 });
    }
  });

  it.each([
    ['a path-like agent', { agent: '../etc', instanceId: '../etc-ab12cd34' }],
    ['an instance of another agent', { instanceId: 'other-ab12cd34' }],
    ['a malformed instance id', { instanceId: 'scribe-AB12CD34' }],
    ['zero cpu', { resources: { cpu: 0, memoryBytes: 256 * 1024 ** 2, pids: 64, tmpBytes: 1 } }],
    ['no pids limit', { resources: { cpu: 1, memoryBytes: 256 * 1024 ** 2, pids: 0, tmpBytes: 1 } }],
    ['tiny memory', { resources: { cpu: 1, memoryBytes: 1024, pids: 64, tmpBytes: 1 } }],
    ['a bad env key', { env: { 'A=B': 'x' } }],
  ] as [string, Partial<SandboxSpec>][])('%s', (_what, over) => {
    expect(() => containerSpec(spec(over), ctx)).toThrowError(expect.objectContaining({ code: 'validation_failed' }));
  });
});

describe('derived names', () => {
  it('fit Linux and iptables limits and stay distinct', () => {
    const long = 'a-very-long-flock-name-for-tests';
    expect(bridgeInterfaceName('prod')).toBe('afl-prod');
    expect(bridgeInterfaceName(long).length).toBeLessThanOrEqual(15);
    expect(firewallChainNames(long).input.length).toBeLessThanOrEqual(28);
    expect(firewallChainNames(long).forward.length).toBeLessThanOrEqual(28);
    expect(firewallChainNames(long).forward).not.toBe(firewallChainNames(long).input);
    expect(bridgeInterfaceName(long)).not.toBe(bridgeInterfaceName(`${long.slice(0, -1)}x`));
  });
});

describe('HostFirewall', () => {
  const base = { flock: 'prod', bridgeInterface: 'afl-prod', gatewayIp: '172.30.0.1', busPort: 4222 };

  it('lets in replies and the bus port on the gateway, drops the rest, forwards nothing', () => {
    const rules = new HostFirewall(base).rules().split('\n');
    expect(rules).toEqual([
      '*filter',
      ':AIFLOCK-IN-prod - [0:0]',
      ':AIFLOCK-FW-prod - [0:0]',
      '-A AIFLOCK-IN-prod -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT',
      '-A AIFLOCK-IN-prod -d 172.30.0.1/32 -p tcp -m tcp --dport 4222 -j ACCEPT',
      '-A AIFLOCK-IN-prod -j DROP',
      '-A AIFLOCK-FW-prod -i afl-prod ! -o afl-prod -j REJECT --reject-with icmp-net-unreachable',
      '-A AIFLOCK-FW-prod -o afl-prod ! -i afl-prod -j REJECT --reject-with icmp-net-unreachable',
      'COMMIT',
      '',
    ]);
  });

  it('opens exactly one more port on the gateway for the egress proxy, and refuses a bad one', () => {
    const rules = new HostFirewall({ ...base, proxyPort: 3128 }).rules().split('\n');
    expect(rules.filter((r) => r.includes('ACCEPT'))).toEqual([
      '-A AIFLOCK-IN-prod -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT',
      '-A AIFLOCK-IN-prod -d 172.30.0.1/32 -p tcp -m tcp --dport 4222 -j ACCEPT',
      '-A AIFLOCK-IN-prod -d 172.30.0.1/32 -p tcp -m tcp --dport 3128 -j ACCEPT',
    ]);
    expect(rules.indexOf('-A AIFLOCK-IN-prod -j DROP')).toBeGreaterThan(rules.findIndex((r) => r.includes('3128')));
    expect(() => new HostFirewall({ ...base, proxyPort: 70000 })).toThrow(/proxy port/);
  });

  it.each([
    [true, 'DOCKER-USER'],
    [false, 'FORWARD'],
  ])('hooks INPUT and (DOCKER-USER present: %s) %s only when the jumps are missing', async (dockerUser, parent) => {
    const calls: string[] = [];
    const hooked = new Set<string>();
    const run: CommandRunner = async (cmd, args) => {
      calls.push([cmd, ...args].join(' '));
      if (args[1] === '-S') return { code: dockerUser ? 0 : 1, stdout: '', stderr: '' };
      const rule = args.slice(2).filter((a) => a !== '1').join(' ');
      if (args[1] === '-C') return { code: hooked.has(rule) ? 0 : 1, stdout: '', stderr: '' };
      if (args[1] === '-I') hooked.add(rule);
      return { code: 0, stdout: '', stderr: '' };
    };
    const fw = new HostFirewall({ ...base, run });
    expect((await fw.apply()).enforced).toBe(true);
    expect((await fw.apply()).enforced).toBe(true);
    expect(calls.filter((c) => c.includes(' -I '))).toEqual([
      'iptables -w -I INPUT 1 -i afl-prod -j AIFLOCK-IN-prod',
      `iptables -w -I ${parent} 1 -j AIFLOCK-FW-prod`,
    ]);
  });

  it('reports, never throws, when iptables is missing or refused', async () => {
    const missing: CommandRunner = async () => ({ code: null, stdout: '', stderr: '', error: 'spawn iptables-restore ENOENT' });
    const denied: CommandRunner = async () => ({ code: 4, stdout: '', stderr: 'Permission denied (you must be root)', error: undefined });
    for (const run of [missing, denied]) {
      const iso = await new HostFirewall({ ...base, run }).apply();
      expect(iso.enforced).toBe(false);
      expect(iso.detail).toMatch(/NOT enforced.*(ENOENT|Permission denied)/);
    }
  });
});
