import { FlockError, type AuditLog, type AuditOutcome } from '@aiflock/core';
import type { FastifyRequest } from 'fastify';
import { actorOf } from './actor.js';

const CORRELATION_ID = /^[A-Za-z0-9._:-]{1,100}$/;

function outcomeOf(err: unknown): AuditOutcome {
  return err instanceof FlockError && (err.status === 401 || err.status === 403) ? 'denied' : 'error';
}

/**
 * Run a state-changing action and record it in the audit log with its outcome, whether it
 * succeeded or failed. `describe` names the resource (and details) once the result is known.
 */
export async function audited<T>(
  audit: AuditLog,
  req: FastifyRequest,
  action: string,
  resource: string,
  run: () => Promise<T>,
  describe?: (result: T) => { resource?: string; correlationId?: string; details?: unknown },
): Promise<T> {
  const header = req.headers['x-correlation-id'];
  const base = {
    actor: actorOf(req),
    action,
    requestId: req.id,
    correlationId: typeof header === 'string' && CORRELATION_ID.test(header) ? header : undefined,
  };
  let result: T;
  try {
    result = await run();
  } catch (err) {
    const details = err instanceof FlockError ? { code: err.code, message: err.message } : { code: 'internal' };
    // The caller must see why the action failed, even if recording the failure fails too.
    await audit.record({ ...base, resource, outcome: outcomeOf(err), details }).catch((auditErr: unknown) => {
      req.log.error({ err: auditErr, action, resource }, 'audit entry for a failed action not recorded');
    });
    throw err;
  }
  // Not caught: an action that happened but could not be audited answers 500 (with the
  // request id in the daemon log), rather than a success nobody can account for.
  const more = describe?.(result) ?? {};
  await audit.record({ ...base, resource: more.resource ?? resource, outcome: 'ok', correlationId: more.correlationId ?? base.correlationId, details: more.details });
  return result;
}
