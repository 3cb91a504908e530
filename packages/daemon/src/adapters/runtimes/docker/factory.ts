import Dockerode from 'dockerode';
import type { RuntimeFactory } from '../shared/host-runtime.js';
import { storageLimits } from '../shared/settings.js';
import { DockerRuntime } from './docker-runtime.js';
import { OperatorRuntime } from './operator-runtime.js';

/** Containers on the flock's bridge; the operator profile on a second, remapping engine. */
export const dockerRuntimeFactory = {
  kind: 'docker',
  create: (ctx) =>
    new DockerRuntime({
      docker: new Dockerode({ socketPath: ctx.settings.socket }),
      flock: ctx.flock,
      sharedDir: ctx.sharedDir,
      busPort: ctx.busPort,
      // A joined node's servers (node-runtime.ts): its sandboxes reach them through a relay on the gateway.
      ...(ctx.busServers ? { busServers: ctx.busServers } : {}),
      node: ctx.node,
      log: ctx.log,
      secretsDir: ctx.secretsDir,
      storage: storageLimits(ctx.settings),
      proxyPort: ctx.proxyPort,
      warmDir: `${ctx.dataDir}/warm`,
    }),
  operator(ctx) {
    const socketPath = ctx.settings.operatorEngine;
    if (!socketPath) return null;
    return new OperatorRuntime({
      docker: new Dockerode({ socketPath }),
      socketPath,
      imageSource: new Dockerode({ socketPath: ctx.settings.socket }),
      flock: ctx.flock,
      node: ctx.node,
      sharedDir: ctx.sharedDir,
      socketRoot: ctx.settings.operatorSocketDir ?? `/run/aiflock-${ctx.flock}-operator`,
      busHost: ctx.busHost,
      busPort: ctx.busPort,
      proxy: ctx.proxy,
      secretsDir: ctx.secretsDir,
      storage: storageLimits(ctx.settings),
      log: ctx.log,
    });
  },
} as const satisfies RuntimeFactory;
