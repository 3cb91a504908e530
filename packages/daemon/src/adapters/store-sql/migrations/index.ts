import type { Migration } from 'kysely';
import type { SqlBackend } from '../dialect.js';
import { m0001Initial } from './0001_initial.js';
import { m0002Audit } from './0002_audit.js';
import { m0003Auth } from './0003_auth.js';
import { m0004Llm } from './0004_llm.js';
import { m0005Sandbox } from './0005_sandbox.js';
import { m0006Economy } from './0006_economy.js';
import { m0007Memory } from './0007_memory.js';
import { m0008World } from './0008_world.js';
import { m0009DeploymentOwner } from './0009_deployment_owner.js';
import { m0009LlmCounters } from './0009_llm_counters.js';
import { m0010Perception } from './0010_perception.js';
import { m0011LogBounds } from './0011_log_bounds.js';
import { m0011TaskSteps } from './0011_task_steps.js';
import { m0012People } from './0012_people.js';
import { m0014Revisions } from './0014_revisions.js';
import { m0015Nodes } from './0015_nodes.js';
import { m0016TaskParent } from './0016_task_parent.js';

/**
 * Versioned migrations, shared by every backend, one module each, in the order they run.
 * Append new ones; never edit one that has shipped.
 */
export function migrations(backend: SqlBackend): Record<string, Migration> {
  return {
    '0001_initial': m0001Initial(backend),
    '0002_audit': m0002Audit(),
    '0003_auth': m0003Auth(backend),
    '0004_llm': m0004Llm(backend),
    '0005_sandbox': m0005Sandbox(),
    '0006_economy': m0006Economy(backend),
    '0007_memory': m0007Memory(),
    '0008_world': m0008World(),
    '0009_deployment_owner': m0009DeploymentOwner(),
    '0009_llm_counters': m0009LlmCounters(),
    '0010_perception': m0010Perception(backend),
    '0011_log_bounds': m0011LogBounds(),
    '0011_task_steps': m0011TaskSteps(backend),
    '0012_people': m0012People(backend),
    '0014_revisions': m0014Revisions(),
    '0015_nodes': m0015Nodes(),
    '0016_task_parent': m0016TaskParent(),
  };
}
