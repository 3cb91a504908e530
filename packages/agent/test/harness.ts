import { randomBytes } from 'node:crypto';
import {
  AckPolicy,
  type ConsumerInfo,
  connect,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
  type Subscription,
} from 'nats';
import { STREAMS, subjects, taskConsumerName, taskPullRequest, type RuntimeEnv, type Task, type TaskClaim, type TaskClaimRpc } from '@aiflock/protocol';
import { startNatsServer, type TestNatsServer } from '../../../testkit/nats-server.js';

/** What a control plane provides: a bus with the flock's streams. */
export interface Plane {
  server: TestNatsServer;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  /**
   * How the plane answers `tasks.claim` (an instance asking whether a task delivered again may
   * run): `run` unless a test sets an answer for a task.
   */
  claims: Map<string, TaskClaim>;
  /** The claims instances asked, in order. */
  claimsAsked: TaskClaimRpc[];
  close(): Promise<void>;
}

export async function startPlane(): Promise<Plane> {
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url, name: 'test-control-plane' });
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({
    name: STREAMS.tasks.name,
    subjects: [...STREAMS.tasks.subjects],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
  });
  for (const s of [STREAMS.results, STREAMS.events]) {
    await jsm.streams.add({ name: s.name, subjects: [...s.subjects], retention: RetentionPolicy.Limits, storage: StorageType.File });
  }
  const claims = new Map<string, TaskClaim>();
  const claimsAsked: TaskClaimRpc[] = [];
  nc.subscribe(subjects.rpc('*', 'tasks', 'claim'), {
    callback: (_err, msg) => {
      const input = JSON.parse(new TextDecoder().decode(msg.data)) as TaskClaimRpc;
      claimsAsked.push(input);
      const result: TaskClaim = claims.get(input.taskId) ?? { verdict: 'run', status: 'running', holder: null };
      msg.respond(new TextEncoder().encode(JSON.stringify({ ok: true, result })));
    },
  });
  answerPulls(nc);
  await nc.flush();
  return {
    server,
    nc,
    js: nc.jetstream(),
    jsm,
    claims,
    claimsAsked,
    async close() {
      await nc.close();
      await server.stop();
    },
  };
}

/**
 * `tasks.pull`, as the control plane answers it: a pull request on the caller's agent's queue
 * (an instance id is `<agent>-<token>` here), its tasks going to the caller's deliveries.
 */
export function answerPulls(nc: NatsConnection): Subscription {
  return nc.subscribe(subjects.rpc('*', 'tasks', 'pull'), {
    callback: (_err, msg) => {
      const instanceId = msg.subject.split('.')[1]!;
      const agent = instanceId.slice(0, instanceId.lastIndexOf('-'));
      const input = JSON.parse(new TextDecoder().decode(msg.data)) as { batch: number; expiresMs: number; request: string };
      const reply = `${subjects.deliveries(instanceId)}.${input.request}`;
      const { subject, body } = taskPullRequest(agent, input);
      nc.publish(subject, body, { reply });
      msg.respond(new TextEncoder().encode(JSON.stringify({ ok: true, result: { reply } })));
    },
  });
}

/** The durable pull consumer the control plane creates per deployment. */
export async function addQueue(jsm: JetStreamManager, agent: string, ackWaitMs = 30_000): Promise<void> {
  await jsm.consumers.add(STREAMS.tasks.name, {
    durable_name: taskConsumerName(agent),
    filter_subject: subjects.tasks(agent),
    ack_policy: AckPolicy.Explicit,
    ack_wait: ackWaitMs * 1_000_000,
    max_deliver: 5,
  });
}

const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
function randomToken(n: number): string {
  return [...randomBytes(n)].map((b) => alphabet[b % alphabet.length]).join('');
}

let agentSeq = 0;
/** A fresh agent name per test, so every test has its own queue. */
export function newAgent(prefix = 'worker'): { agent: string; instanceId: string } {
  const agent = `${prefix}-${process.pid}-${++agentSeq}`;
  return { agent, instanceId: `${agent}-${randomToken(8)}` };
}

export function taskId(): string {
  return `t_${randomToken(24)}`;
}

export function makeEnv(url: string, ids: { agent: string; instanceId: string }, extra: Partial<RuntimeEnv> = {}): RuntimeEnv {
  return {
    AIFLOCK_INSTANCE_ID: ids.instanceId,
    AIFLOCK_AGENT: ids.agent,
    AIFLOCK_NATS_URL: url,
    AIFLOCK_HANDLERS: ['echo', 'shell'],
    AIFLOCK_HEARTBEAT_MS: 30_000,
    AIFLOCK_CONCURRENCY: 2,
    AIFLOCK_SHARED_DIR: '/shared',
    ...extra,
  };
}

export function makeTask(agent: string, type: string, data: unknown, over: Partial<Task> = {}): Task {
  const now = Date.now();
  return {
    id: taskId(),
    type,
    data,
    timestamp: new Date(now).toISOString(),
    agent,
    attempt: 1,
    maxAttempts: 3,
    deadline: new Date(now + 60_000).toISOString(),
    ...over,
  };
}

export async function enqueue(js: JetStreamClient, task: Task): Promise<void> {
  await js.publish(subjects.tasks(task.agent), JSON.stringify(task), { msgID: task.id });
}

/**
 * Collects JSON messages on a subject and lets a test wait for the first one matching a
 * predicate (with a timeout that fails the test instead of hanging it).
 */
/** The events (or results) of a `batch` message on `agent.<id>.events` (`.results`); any other message, alone. */
export function unbatched(message: unknown): unknown[] {
  const m = message as { type?: unknown; events?: unknown; results?: unknown } | null;
  if (m?.type !== 'batch') return [message];
  return Array.isArray(m.events) ? m.events : Array.isArray(m.results) ? m.results : [message];
}

export class Collector<T = unknown> {
  readonly items: T[] = [];
  private readonly sub: Subscription;
  private waiters: Array<{ match: (t: T) => boolean; resolve: (t: T) => void }> = [];

  constructor(nc: NatsConnection, subject: string) {
    this.sub = nc.subscribe(subject, {
      callback: (_err, msg) => {
        // A `batch` message is its events (results), one by one, as the control plane reads it.
        for (const item of unbatched(msg.json<unknown>()) as T[]) {
          this.items.push(item);
          this.waiters = this.waiters.filter((w) => (w.match(item) ? (w.resolve(item), false) : true));
        }
      },
    });
  }

  wait(match: (t: T) => boolean, timeoutMs = 10_000, what = 'message'): Promise<T> {
    const found = this.items.find(match);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
      this.waiters.push({
        match,
        resolve: (t) => {
          clearTimeout(timer);
          resolve(t);
        },
      });
    });
  }

  /** Wait until `n` matching items arrived. */
  async waitCount(match: (t: T) => boolean, n: number, timeoutMs = 10_000, what = 'messages'): Promise<T[]> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const got = this.items.filter(match);
      if (got.length >= n) return got;
      if (Date.now() > until) throw new Error(`timed out waiting for ${n} ${what}, got ${got.length}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  close(): void {
    this.sub.unsubscribe();
  }
}

/** Poll the deployment's consumer until `ok` holds (acks are asynchronous to results). */
export async function waitForQueue(
  jsm: JetStreamManager,
  agent: string,
  ok: (info: ConsumerInfo) => boolean,
  timeoutMs = 5_000,
): Promise<ConsumerInfo> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const info = await jsm.consumers.info(STREAMS.tasks.name, taskConsumerName(agent));
    if (ok(info)) return info;
    if (Date.now() > until) throw new Error(`queue of ${agent} never reached the expected state: ${JSON.stringify(info)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
