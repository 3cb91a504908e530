import type Dockerode from 'dockerode';
import type { SandboxInfo, SandboxState } from '@aiflock/core';
import { INSTANCE_ID_PATTERN, SandboxHealth, instanceAgent } from '@aiflock/protocol';
import { LABEL, containerName } from './names.js';

// A container as the SandboxRuntime port describes an instance: by its labels, or for a
// claimed warm one (whose labels cannot change) by its name.

/** The instance a container's name says (`aiflock-<flock>-<instance>`), or null. */
export function instanceFromName(name: string | undefined, flock: string): string | null {
  const id = name?.replace(/^\//, '').slice(containerName(flock, '').length) ?? '';
  return name?.replace(/^\//, '').startsWith(containerName(flock, '')) && INSTANCE_ID_PATTERN.test(id) ? id : null;
}

function toState(s: string): SandboxState {
  switch (s) {
    case 'created':
    case 'running':
    case 'restarting':
    case 'exited':
    case 'dead':
      return s;
    case 'paused':
      return 'paused';
    default:
      return 'dead'; // 'removing' and anything newer
  }
}

export function toInfo(c: Dockerode.ContainerInspectInfo, flock: string, network: string): SandboxInfo {
  const labels = c.Config.Labels ?? {};
  const running = c.State.Running || c.State.Restarting;
  return {
    instanceId: labels[LABEL.instance] ?? c.Name.replace(`/${containerName(flock, '')}`, ''),
    agent: labels[LABEL.agent] ?? instanceAgentOrEmpty(instanceFromName(c.Name, flock)),
    handle: c.Id,
    state: toState(c.State.Status),
    exitCode: running || c.State.Status === 'created' ? null : c.State.ExitCode,
    oomKilled: c.State.OOMKilled,
    startedAt: c.State.StartedAt && !c.State.StartedAt.startsWith('0001-') ? c.State.StartedAt : null,
    manifestDigest: labels[LABEL.digest] ?? '',
    node: labels[LABEL.node] ?? '',
    address: c.NetworkSettings.Networks?.[network]?.IPAddress || null,
    health: sandboxHealth(c.State.Health?.Status),
  };
}

/** Docker's health status as ours; `none` (no HEALTHCHECK) and anything unknown are null. */
export function sandboxHealth(status: string | undefined): SandboxHealth | null {
  const parsed = SandboxHealth.safeParse(status?.trim());
  return parsed.success ? parsed.data : null;
}


const instanceAgentOrEmpty = (id: string | null): string => (id ? instanceAgent(id) : '');
