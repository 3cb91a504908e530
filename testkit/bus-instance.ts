import { connect, JSONCodec, type Consumer, type JsMsg, type NatsConnection } from 'nats';
import { RpcReply, STREAMS, subjects, taskConsumerName, type AgentEvent, type Heartbeat, type Task, type TaskResult } from '@aiflock/protocol';
import type { Store } from '@aiflock/core';

const codec = JSONCodec();

/**
 * An agent instance played by a test on the real bus, where the agent's side of a feature is
 * needed without a sandbox: it is recorded as running, takes tasks from `tasks.<agent>` (pulling
 * itself, on a bus without accounts; the agent runtime asks the control plane to, `tasks.pull`),
 * publishes events and results on its own subjects and calls the control plane's RPC ops,
 * exactly as `@aiflock/agent` does.
 */
export class BusInstance {
  private constructor(
    readonly id: string,
    readonly agent: string,
    private readonly nc: NatsConnection,
    private readonly consumer: Consumer,
  ) {}

  static async start(natsUrl: string, store: Store, agent: string): Promise<BusInstance> {
    const id = `${agent}-${Math.random().toString(36).slice(2, 10)}`;
    await store.instances.upsert({ id, agent, status: 'running', handle: null, node: 'n', startedAt: new Date().toISOString(), lastHeartbeatAt: null, exitCode: null, oomKilled: false });
    const nc = await connect({ servers: natsUrl });
    const consumer = await nc.jetstream().consumers.get(STREAMS.tasks.name, taskConsumerName(agent));
    return new BusInstance(id, agent, nc, consumer);
  }

  /** The next task from the queue, started (its `task.started` event published). */
  async take(timeoutMs = 10_000): Promise<{ task: Task; msg: JsMsg }> {
    const msg = await this.consumer.next({ expires: timeoutMs });
    if (!msg) throw new Error(`no task for ${this.agent} within ${timeoutMs} ms`);
    const task = msg.json<Task>();
    this.event({ type: 'task.started', ts: new Date().toISOString(), taskId: task.id, attempt: task.attempt });
    return { task, msg };
  }

  /** A heartbeat in `state`, listing `runningTasks`; flushed, so the control plane gets it before what the test does next. */
  async beat(state: Heartbeat['state'], runningTasks: string[] = []): Promise<void> {
    const beat: Heartbeat = { instanceId: this.id, agent: this.agent, ts: new Date().toISOString(), state, runningTasks, uptimeMs: 1, rssBytes: 1, runtimeVersion: 'test' };
    this.nc.publish(subjects.heartbeat(this.id), codec.encode(beat));
    await this.nc.flush();
  }

  event(e: AgentEvent): void {
    this.nc.publish(subjects.events(this.id), codec.encode(e));
  }

  /** A unary op as this instance (`agent.<id>.rpc.<service>.<op>`); throws the error reply's code and message. */
  async rpc<T>(service: string, op: string, payload: unknown, timeoutMs = 30_000): Promise<T> {
    const m = await this.nc.request(subjects.rpc(this.id, service, op), codec.encode(payload), { timeout: timeoutMs });
    const reply = RpcReply.parse(codec.decode(m.data));
    if (!reply.ok) throw Object.assign(new Error(`${reply.error.code}: ${reply.error.message}`), { code: reply.error.code });
    return reply.result as T;
  }

  /** Publish the task's result and acknowledge its message. */
  async finish(t: { task: Task; msg: JsMsg }, outcome: Pick<TaskResult, 'status' | 'result'> & Partial<TaskResult>): Promise<void> {
    const result: TaskResult = { agentId: this.id, taskId: t.task.id, timestamp: new Date().toISOString(), attempt: t.task.attempt, durationMs: 1, ...outcome };
    await this.nc.jetstream().publish(subjects.results(this.id), codec.encode(result), { msgID: `${t.task.id}:${t.task.attempt}` });
    t.msg.ack();
  }

  async close(): Promise<void> {
    await this.nc.close();
  }
}
