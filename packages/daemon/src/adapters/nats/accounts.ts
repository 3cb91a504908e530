import type { Export, Import } from '@nats-io/jwt';
import { INSTANCE_JS_API_PREFIX, STREAMS } from '@aiflock/protocol';

/**
 * The line between the flock account (the control plane, its streams and consumers) and the
 * agents account (every instance). NATS lets a publisher name any reply subject and has no
 * permission on it, so an instance in the streams' own account could have the server answer
 * a pull request or an ack on a subject a stream captures (another agent's results subject,
 * the task queue, the dead letters) and have that answer stored. Across an account boundary
 * the server answers a service import on a reply subject *of the importing account*, where
 * no stream listens and from which nothing is exported: whatever reply an instance names,
 * the answer stays on its side.
 *
 * What crosses, and only this: the instances' own subjects (results, events, heartbeats,
 * RPC requests) as services of the flock account, keeping their subject (the identity the
 * instance's permissions prove); the consumer's settings an instance reads, under
 * INSTANCE_JS_API_PREFIX (the agents account has no JetStream of its own, so `$JS.API` there
 * would be answered "not enabled"); the acknowledgements of task messages; and, the other
 * way, the task messages pulled for instances, control messages, broadcasts and nodes'
 * desired states as streams. Pull requests are the control plane's, on an instance's
 * `tasks.pull` (the reply subject is then the control plane's choice too); an instance makes
 * its own only while the control plane does not answer.
 *
 * A service's reply route does not survive an update of the agents account (nats-server drops
 * them all when it applies one, and every revocation is one), so what must arrive whatever
 * the moment crosses as a stream on a subject the control plane chose or checked: task
 * messages on `deliveries.<id>.<request>`, RPC answers on `replies.<id>.<token>`. The server
 * never publishes there on an instance's word: a pull request's reply is the control plane's
 * own, and an RPC answer goes to `replies.<id>.<token>` only when the request came from
 * instance `<id>` (its subject proves it) and named exactly that; otherwise the answer takes
 * the route, as above. What still rides reply routes: JetStream's confirmations of results
 * and of a task's start event (a lost one costs a timeout and a retry, which the stream's
 * duplicate window refuses if the first was stored), the confirmation of a task's ack (a lost
 * one is logged; the task may come again and its result is deduplicated), the consumer info,
 * and an instance's own pull while the control plane is away (no update comes then).
 */
const TASKS = STREAMS.tasks.name;
const MINUTE_NS = 60 * 1e9;

interface Crossing {
  /** The subject in the flock account. */
  subject: string;
  /** The subject instances use, when it differs. */
  local?: string;
  type: 'service' | 'stream';
  /** Services answered by several messages (a pull request, a streamed model reply). */
  streamed?: { thresholdNs: number };
}

const CROSSINGS: Crossing[] = [
  { type: 'service', subject: 'agent.*.results' },
  { type: 'service', subject: 'agent.*.events' },
  { type: 'service', subject: 'agent.*.heartbeat' },
  // Node agents are users of the agents account too, each allowed only its own node.<name>.>.
  { type: 'service', subject: 'node.*.heartbeat' },
  // An exec session's output, from the node its subject names (node-exec.ts).
  { type: 'service', subject: 'node.*.exec.*' },
  // A streamed model answer can run for many minutes; its reply route is kept that long.
  { type: 'service', subject: 'agent.*.rpc.>', streamed: { thresholdNs: 30 * MINUTE_NS } },
  { type: 'service', subject: `$JS.API.CONSUMER.INFO.${TASKS}.*`, local: `${INSTANCE_JS_API_PREFIX}.CONSUMER.INFO.${TASKS}.*` },
  // An instance's own pull request, only while the control plane is away: a service's reply
  // route is dropped whenever the agents account is updated (a revocation, which only the
  // control plane makes), and a pull request then filled would hand its tasks to nobody.
  { type: 'service', subject: `$JS.API.CONSUMER.MSG.NEXT.${TASKS}.*`, local: `${INSTANCE_JS_API_PREFIX}.CONSUMER.MSG.NEXT.${TASKS}.*`, streamed: { thresholdNs: 10 * MINUTE_NS } },
  // Task messages the control plane pulled for an instance (`tasks.pull`), as a stream, which
  // an account update leaves alone. An instance reads only its own.
  { type: 'stream', subject: 'deliveries.*.*' },
  // Answers to instances' RPC requests, for the same reason: the control plane publishes one on
  // `replies.<id>.<token>` only when that is the caller's own (nats-bus.ts, `serveRpc`), and
  // an instance reads only its own.
  { type: 'stream', subject: 'replies.*.*' },
  { type: 'service', subject: `$JS.ACK.${TASKS}.>` },
  { type: 'stream', subject: 'ctl.*' },
  { type: 'stream', subject: 'broadcast' },
  // Each node's desired state (with its instances' credentials): a node user may read only its own.
  { type: 'stream', subject: 'nodectl.*.desired' },
  // An exec session's input for the node its subject names; a node user may read only its own.
  { type: 'stream', subject: 'nodectl.*.exec.*' },
];

/**
 * The other way: services of the agents account the control plane calls. A node agent answers
 * the requests on its own `nodectl.<name>.exec|stats` (its permissions allow it no other's, and
 * no instance may publish or subscribe there).
 */
const NODE_SERVICES: Crossing[] = [
  { type: 'service', subject: 'nodectl.*.exec' },
  { type: 'service', subject: 'nodectl.*.stats' },
];

/** What the flock account offers the agents account. */
export function flockExports(): Export[] {
  return CROSSINGS.map((c) => ({
    name: c.subject,
    subject: c.subject,
    type: c.type,
    ...(c.streamed ? { response_type: 'Stream' as const, response_threshold: c.streamed.thresholdNs } : {}),
  }));
}

/** What the agents account takes from the flock account (`flockAccount`: its public key). */
export function agentImports(flockAccount: string): Import[] {
  return CROSSINGS.map((c) => ({
    name: c.subject,
    subject: c.subject,
    account: flockAccount,
    type: c.type,
    ...(c.local ? { local_subject: c.local } : {}),
  }));
}

/** What the agents account offers the flock account: the nodes' services. */
export function agentExports(): Export[] {
  // Each is answered once, within a minute (an exec session streams on subjects of its own).
  return NODE_SERVICES.map((c) => ({ name: c.subject, subject: c.subject, type: c.type, response_threshold: MINUTE_NS }));
}

/** What the flock account takes from the agents account (`agentsAccount`: its public key). */
export function flockImports(agentsAccount: string): Import[] {
  return NODE_SERVICES.map((c) => ({ name: c.subject, subject: c.subject, account: agentsAccount, type: c.type }));
}
