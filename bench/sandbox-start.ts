/**
 * Sandbox cold start by runtime: from asking a runtime to start an echo agent until its first
 * heartbeat arrives on NATS, for the Docker runtime (profile `restricted`), the operator
 * runtime (profile `operator`, on the user-namespace-remapped operator engine; its row is
 * left out, and says so, when that engine does not answer) and the process runtime
 * (bubblewrap), against raw `docker run` of the same image and a plain child process running
 * the same agent bundle, all measured in the same run against one nats-server.
 * With `--vm`, also the vm runtime (a QEMU guest: KVM when /dev/kvm works, else software
 * emulation, said in the output) against booting the same kernel and /init under the same
 * QEMU with nothing else (the guest powers off as soon as /init finds no environment), and a
 * per-job VM (`lifecycle: job`): from queueing an echo task and starting a fresh guest that
 * takes one task until its result arrives.
 *
 *   npx tsx bench/sandbox-start.ts [--runs 5] [--json] [--vm]
 */
import { execFileSync } from 'node:child_process';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { AckPolicy, RetentionPolicy, StorageType, connect } from 'nats';
import { STREAMS, subjects, taskConsumerName } from '@aiflock/protocol';
import type { SandboxSpec } from '@aiflock/core';
import { DockerRuntime } from '../packages/daemon/src/adapters/runtimes/docker/docker-runtime.js';
import { OperatorRuntime } from '../packages/daemon/src/adapters/runtimes/docker/operator-runtime.js';
import { ProcessRuntime } from '../packages/daemon/src/adapters/runtimes/process/process-runtime.js';
import { VmRuntime } from '../packages/daemon/src/adapters/runtimes/vm/vm-runtime.js';
import { REPO_ROOT } from '../testkit/flock.js';
import { startNatsServer } from '../testkit/nats-server.js';
import { Heartbeats, IMAGE, benchArgs, fmt, fmtSpread, main, median, onCleanup, progress, randomId, spread, table, withTimeout, writeResults } from './lib.js';

const KINDS = {
  docker: 'aiflock Docker runtime (restricted profile)',
  operator: 'aiflock operator runtime (operator profile, userns-remapped engine)',
  process: 'aiflock process runtime (bubblewrap)',
  dockerRun: 'raw docker run (same image, network, env)',
  child: 'plain child process (node agent.mjs)',
  vm: 'aiflock vm runtime (QEMU guest)',
  vmBoot: 'same QEMU, kernel and /init, nothing else (to power-off)',
  vmJob: 'per-job VM: echo task queued + fresh guest started, to its result',
} as const;
/** The per-job row's agent: its own queue, so no long-lived sandbox of the other rows takes its task. */
const JOB_AGENT = 'benchjob';
const GUEST_TIMEOUT_MS = 10 * 60_000;
type Kind = keyof typeof KINDS;
const BUNDLE = join(REPO_ROOT, 'packages', 'agent', 'dist', 'bundle', 'agent.mjs');
const opts = benchArgs({}, ['vm']);
const OPERATOR_ENGINE = process.env['AIFLOCK_OPERATOR_ENGINE'] ?? '/run/aiflock/operator-docker.sock';

main('sandbox-start', async () => {
  const docker = new Dockerode();
  const flock = `b${randomId(6)}`;
  const base = join(REPO_ROOT, '.tmp');
  mkdirSync(base, { recursive: true });
  chmodSync(base, 0o755);
  const root = mkdtempSync(join(base, 'bench-'));
  chmodSync(root, 0o711);
  onCleanup('remove the bench directory', async () => rmSync(root, { recursive: true, force: true }));

  // The Docker runtime first: nats-server must listen on its bridge gateway.
  const placeholderPort = 4222;
  let dockerRt = new DockerRuntime({ docker, flock, sharedDir: join(root, 'docker-shared'), busPort: placeholderPort, node: 'bench' });
  await dockerRt.init();
  const gateway = dockerRt.gatewayIp();
  const nats = await startNatsServer({ host: gateway });
  onCleanup('stop nats-server', () => nats.stop());
  // Re-create with the real bus port (the firewall opens exactly that port).
  dockerRt = new DockerRuntime({ docker, flock, sharedDir: join(root, 'docker-shared'), busPort: nats.port, node: 'bench' });
  await dockerRt.init();
  onCleanup('dispose the Docker runtime', () => dockerRt.dispose());
  const procRt = new ProcessRuntime({ flock, node: 'bench', rootDir: join(root, 'proc'), bundle: BUNDLE, busServers: [{ host: gateway, port: nats.port }], busPort: nats.port });
  await procRt.init();
  onCleanup('dispose the process runtime', () => procRt.dispose());

  // The operator engine is optional here: without it the row is left out, and the output says so.
  let opRt: OperatorRuntime | null = new OperatorRuntime({
    docker: new Dockerode({ socketPath: OPERATOR_ENGINE }),
    socketPath: OPERATOR_ENGINE,
    imageSource: docker,
    flock,
    node: 'bench',
    sharedDir: join(root, 'docker-shared'),
    socketRoot: join(root, 'op-sockets'),
    busHost: gateway,
    busPort: nats.port,
  });
  try {
    await opRt.init();
    onCleanup('dispose the operator runtime', () => opRt!.dispose());
  } catch (err) {
    progress(`operator profile left out: ${(err as Error).message}`);
    opRt = null;
  }

  // The vm runtime only with --vm: a guest boot takes minutes under software emulation.
  let vmRt: VmRuntime | null = null;
  if (opts.flags['vm']) {
    const imageDir = execFileSync('bash', [join(REPO_ROOT, 'scripts', 'build-vm-image.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop()!;
    vmRt = new VmRuntime({ flock, node: 'bench', rootDir: join(root, 'vm'), sharedDir: join(root, 'vm', 'shared'), imageDir, qemu: '/usr/bin/qemu-system-x86_64', accel: 'auto', busHost: gateway, busPort: nats.port });
    await vmRt.init();
    onCleanup('dispose the vm runtime', () => vmRt!.dispose());
    progress(`vm runtime: ${vmRt.acceleration()?.reason ?? 'no acceleration probed'}`);
  }

  const nc = await connect({ servers: nats.url });
  onCleanup('close NATS', () => nc.close());
  if (vmRt) {
    // The per-job row needs what the control plane makes: the task, result and event streams, and the agent's queue.
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: STREAMS.tasks.name, subjects: [...STREAMS.tasks.subjects], retention: RetentionPolicy.Workqueue, storage: StorageType.File });
    for (const st of [STREAMS.results, STREAMS.events]) await jsm.streams.add({ name: st.name, subjects: [...st.subjects], retention: RetentionPolicy.Limits, storage: StorageType.File });
    await jsm.consumers.add(STREAMS.tasks.name, { durable_name: taskConsumerName(JOB_AGENT), filter_subject: subjects.tasks(JOB_AGENT), ack_policy: AckPolicy.Explicit, ack_wait: 60_000_000_000 });
  }

  const beats = await Heartbeats.watch(nc);
  const env = (id: string, natsUrl: string, agent = 'bench') => ({
    AIFLOCK_INSTANCE_ID: id,
    AIFLOCK_AGENT: agent,
    AIFLOCK_NATS_URL: natsUrl,
    AIFLOCK_HANDLERS: 'echo',
    AIFLOCK_HEARTBEAT_MS: '30000',
  });
  const spec = (id: string, natsUrl: string, profile: SandboxSpec['profile'] = 'restricted'): SandboxSpec => ({
    instanceId: id,
    agent: 'bench',
    image: IMAGE,
    profile,
    env: env(id, natsUrl),
    resources: { cpu: 0.5, memoryBytes: 256 * 1024 ** 2, pids: 64, tmpBytes: 64 * 1024 ** 2 },
    manifestDigest: `sha256:${'00'.repeat(32)}`,
  });

  // A guest under software emulation on a busy host can take minutes to its first heartbeat.
  const timed = async (id: string, start: () => Promise<unknown>, stop: () => Promise<unknown>, timeoutMs = 60_000): Promise<number> => {
    const beat = beats.next(`the first heartbeat of ${id}`, (hb) => hb.instanceId === id, timeoutMs);
    const t0 = performance.now();
    await start();
    const ms = (await beat).at - t0;
    await stop();
    return ms;
  };
  const measure: Record<Kind, () => Promise<number>> = {
    docker: () => {
      const id = `bench-${randomId(8)}`;
      return timed(id, () => dockerRt.start(spec(id, dockerRt.busUrlForSandboxes())), () => dockerRt.remove(id));
    },
    operator: () => {
      const id = `bench-${randomId(8)}`;
      return timed(id, () => opRt!.start(spec(id, opRt!.busUrlForSandboxes(), 'operator')), () => opRt!.remove(id));
    },
    process: () => {
      const id = `bench-${randomId(8)}`;
      return timed(id, () => procRt.start(spec(id, procRt.busUrlForSandboxes())), () => procRt.remove(id));
    },
    dockerRun: () => {
      const id = `bench-${randomId(8)}`;
      let c: Dockerode.Container;
      return timed(
        id,
        async () => {
          c = await docker.createContainer({
            Image: IMAGE,
            Env: Object.entries(env(id, nats.url.replace('127.0.0.1', gateway))).map(([k, v]) => `${k}=${v}`),
            HostConfig: { NetworkMode: `aiflock-${flock}` },
          });
          await c.start();
        },
        () => c.remove({ force: true }),
      );
    },
    vm: () => {
      const id = `bench-${randomId(8)}`;
      return timed(id, () => vmRt!.start(spec(id, vmRt!.busUrlForSandboxes())), () => vmRt!.remove(id), GUEST_TIMEOUT_MS);
    },
    vmJob: async () => {
      const id = `${JOB_AGENT}-${randomId(8)}`;
      const now = Date.now();
      const task = { id: `t_${randomId(24)}`, type: 'echo', data: 'per-job', timestamp: new Date(now).toISOString(), agent: JOB_AGENT, attempt: 1, maxAttempts: 1, deadline: new Date(now + 15 * 60_000).toISOString() };
      let sub: ReturnType<typeof nc.subscribe> | null = null;
      const result = new Promise<number>((resolve) => (sub = nc.subscribe(subjects.results(id), { callback: () => resolve(performance.now()) })));
      const t0 = performance.now();
      await nc.jetstream().publish(subjects.tasks(JOB_AGENT), JSON.stringify(task), { msgID: task.id });
      await vmRt!.start({ ...spec(id, vmRt!.busUrlForSandboxes()), agent: JOB_AGENT, env: { ...env(id, vmRt!.busUrlForSandboxes(), JOB_AGENT), AIFLOCK_ONE_TASK: '1' } });
      const ms = (await withTimeout(`the result of ${task.id} from ${id}`, GUEST_TIMEOUT_MS, result)) - t0;
      sub!.unsubscribe();
      await vmRt!.remove(id);
      return ms;
    },
    vmBoot: async () => {
      const t0 = performance.now();
      const qemu = spawn('/usr/bin/qemu-system-x86_64', vmRt!.bareBootArgv(), { stdio: 'ignore' });
      const code = await new Promise<number | null>((r) => qemu.once('exit', r));
      if (code !== 0) throw new Error(`the bare guest boot exited with ${code}`);
      return performance.now() - t0;
    },
    child: () => {
      const id = `bench-${randomId(8)}`;
      let child: ReturnType<typeof spawn>;
      return timed(
        id,
        async () => {
          child = spawn(process.execPath, [BUNDLE], { env: { PATH: process.env['PATH'] ?? '', HOME: root, ...env(id, nats.url) }, stdio: 'ignore' });
        },
        async () => {
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGKILL');
          await exited;
        },
      );
    },
  };

  const kinds = (Object.keys(KINDS) as Kind[]).filter((k) => (k !== 'operator' || opRt) && (!k.startsWith('vm') || vmRt));
  const runs: Record<Kind, number>[] = [];
  for (let run = 0; run <= opts.runs; run++) {
    const row: Partial<Record<Kind, number>> = {};
    for (let i = 0; i < kinds.length; i++) {
      const kind = kinds[(run + i) % kinds.length]!;
      row[kind] = await measure[kind]();
      progress(`${run === 0 ? 'warm-up' : `run ${run}/${opts.runs}`} ${kind}: ${kind === 'vmJob' ? 'result' : kind === 'vmBoot' ? 'power-off' : 'first heartbeat'} ${fmt(row[kind])} ms`);
    }
    if (run > 0) runs.push(row as Record<Kind, number>);
  }

  const of = (k: Kind) => spread(runs.map((r) => r[k]));
  const ratio = (a: Kind, b: Kind) => spread(runs.map((r) => r[a] / r[b]));
  const summary = {
    firstHeartbeatMs: Object.fromEntries(kinds.map((k) => [k, of(k)])),
    operatorProfile: opRt ? 'measured' : `left out: the operator engine at ${OPERATOR_ENGINE} is not available`,
    ratios: {
      dockerRuntimeToDockerRun: ratio('docker', 'dockerRun'),
      ...(opRt ? { operatorRuntimeToDockerRun: ratio('operator', 'dockerRun'), operatorRuntimeToDockerRuntime: ratio('operator', 'docker') } : {}),
      processRuntimeToChild: ratio('process', 'child'),
      processRuntimeToDockerRuntime: ratio('process', 'docker'),
      ...(vmRt ? { vmRuntimeToBareBoot: ratio('vm', 'vmBoot'), vmRuntimeToDockerRuntime: ratio('vm', 'docker'), vmJobToVmRuntime: ratio('vmJob', 'vm') } : {}),
    },
    vm: vmRt ? (vmRt.acceleration()?.reason ?? 'unknown') : 'left out (no --vm)',
    medianMs: Object.fromEntries(kinds.map((k) => [k, median(runs.map((r) => r[k]))])),
  };
  const file = await writeResults('sandbox-start', { benchmark: 'sandbox-start', date: new Date().toISOString(), options: { runs: opts.runs, image: IMAGE }, runs, summary });
  progress(`wrote ${file}`);
  if (opts.json) {
    process.stdout.write(JSON.stringify({ summary }, null, 2) + '\n');
    return;
  }
  process.stdout.write(
    [
      `### Sandbox cold start to first heartbeat (${opts.runs} runs; median (min–max) in ms)`,
      '',
      table(['', 'to first heartbeat'], kinds.map((k) => [KINDS[k], fmtSpread(summary.firstHeartbeatMs[k]!)])),
      ...(opRt ? [] : ['', `(operator profile ${summary.operatorProfile})`]),
      ...(vmRt ? ['', `(vm runtime: ${summary.vm})`] : []),
      '',
      table(
        ['ratio (per run, then median)', ''],
        [
          ['Docker runtime / raw docker run', fmtSpread(summary.ratios.dockerRuntimeToDockerRun)],
          ...(summary.ratios.operatorRuntimeToDockerRun ? [['operator runtime / raw docker run', fmtSpread(summary.ratios.operatorRuntimeToDockerRun)]] : []),
          ...(summary.ratios.operatorRuntimeToDockerRuntime ? [['operator runtime / Docker runtime (restricted)', fmtSpread(summary.ratios.operatorRuntimeToDockerRuntime)]] : []),
          ['process runtime / plain child process', fmtSpread(summary.ratios.processRuntimeToChild)],
          ['process runtime / Docker runtime', fmtSpread(summary.ratios.processRuntimeToDockerRuntime)],
          ...(summary.ratios.vmRuntimeToBareBoot ? [['vm runtime / bare guest boot', fmtSpread(summary.ratios.vmRuntimeToBareBoot)]] : []),
          ...(summary.ratios.vmRuntimeToDockerRuntime ? [['vm runtime / Docker runtime', fmtSpread(summary.ratios.vmRuntimeToDockerRuntime)]] : []),
          ...(summary.ratios.vmJobToVmRuntime ? [['per-job VM task / vm runtime start', fmtSpread(summary.ratios.vmJobToVmRuntime)]] : []),
        ],
      ),
    ].join('\n') + '\n',
  );
});
