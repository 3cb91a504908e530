import type { FastifyReply, FastifyRequest } from 'fastify';
import type { LogFilter, LogRecord, Store } from '@aiflock/core';
import type { LogLine } from '@aiflock/protocol';

export function logLine(r: LogRecord): LogLine {
  return { seq: r.seq, ts: r.ts, level: r.level, msg: r.msg, agent: r.agent, instanceId: r.instanceId, taskId: r.taskId };
}

/**
 * Stream log lines as NDJSON: the backlog first, then new lines as they are stored, until
 * the client goes away or `done()` says nothing more can come.
 */
export async function followLogs(
  req: FastifyRequest,
  reply: FastifyReply,
  store: Store,
  filter: Pick<LogFilter, 'agent' | 'agents' | 'since' | 'taskId'> & { afterSeq?: number; backlog?: number },
  done: () => Promise<boolean>,
): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store', 'x-request-id': req.id });
  let closed = false;
  req.raw.on('close', () => (closed = true));
  const { agent, agents, since, taskId } = filter;
  const scope: Omit<LogFilter, 'limit'> = { agent, agents, since, taskId };
  let after = filter.afterSeq ?? 0;
  if (filter.backlog !== undefined) {
    const backlog = await store.logs.list({ ...scope, limit: filter.backlog, tail: true });
    for (const r of backlog) res.write(`${JSON.stringify(logLine(r))}\n`);
    after = backlog.at(-1)?.seq ?? after;
  }
  while (!closed) {
    const rows = await store.logs.list({ ...scope, afterSeq: after, limit: 500 });
    for (const r of rows) res.write(`${JSON.stringify(logLine(r))}\n`);
    if (rows.length) after = rows.at(-1)!.seq;
    else if (await done()) break;
    else await new Promise((r) => setTimeout(r, 250));
  }
  res.end();
}
