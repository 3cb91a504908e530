import { FlockError } from '../errors.js';
import { digestOfRef } from '../manifest/digest.js';
import { validateManifest } from '../manifest/parse.js';
import type { ManifestArtefacts, RevisionRecord } from '../ports/revision-store.js';
import type { Store } from '../ports/store.js';
import { asFlock, withOverrides, type DeploymentService, type Deployer, type DeployOutcome } from './deployments.js';

/**
 * An agent's history, rollback, and deploying a stored manifest by its digest or CID: what a
 * user of Helm (history, rollback) and Nix (content addressing) expects. Every deploy goes
 * through DeploymentService.apply, so the same checks hold whichever way it comes.
 */
export class RevisionService {
  constructor(
    private readonly deps: {
      store: Store;
      deployments: DeploymentService;
      artefacts?: ManifestArtefacts;
    },
  ) {}

  async history(agent: string): Promise<RevisionRecord[]> {
    await this.deps.deployments.require(agent);
    return this.deps.store.revisions.list(agent);
  }

  /**
   * Deploy the manifest stored under `ref` (sha256:<hex> or its CIDv1), with `--set`
   * overrides. The content is checked against the digest before anything runs.
   */
  async deployRef(ref: string, by: Deployer | undefined, sets: string[] = []): Promise<DeployOutcome> {
    const digest = digestOfRef(ref);
    if (!digest) throw new FlockError('validation_failed', `"${ref}" is neither a manifest digest (sha256:<64 hex>) nor a raw sha2-256 CIDv1 (bafkrei...)`, { field: 'ref', value: ref });
    const document = (await this.deps.store.revisions.byDigest(digest))?.document ?? (await this.deps.artefacts?.get(digest)) ?? null;
    if (!document) throw new FlockError('revision_not_found', `no manifest stored under ${ref}; deploy the manifest file once, or check the digest`, { ref, digest });
    const parsed = asFlock(() => validateManifest(document, ref));
    if (parsed.digest !== digest) {
      throw new FlockError('manifest_integrity_failed', `the manifest stored under ${digest} hashes to ${parsed.digest}: it is corrupt or was tampered with, so it is not deployed`, { digest, actual: parsed.digest });
    }
    return this.deps.deployments.apply(withOverrides(parsed, sets), by, { cause: 'deploy-ref', overrides: sets });
  }

  /**
   * Roll back to a revision (a number, or a digest/CID in the agent's history); by default
   * the one before the latest, as `helm rollback` does. The rollback is itself a new revision.
   */
  async rollback(agent: string, to: string | undefined, by: Deployer | undefined): Promise<DeployOutcome> {
    const revisions = await this.history(agent);
    const latest = revisions.at(-1);
    if (!latest) throw new FlockError('revision_not_found', `agent "${agent}" has no revisions to roll back to (it was deployed before revisions were kept)`, { agent });
    const target = to === undefined ? revisions.at(-2) : pick(revisions, to);
    if (!target) {
      const why = to === undefined ? 'it has only one revision' : `no revision "${to}" (revisions: ${revisions.map((r) => r.revision).join(', ')})`;
      throw new FlockError('revision_not_found', `cannot roll back agent "${agent}": ${why}`, { agent, to: to ?? null });
    }
    const parsed = asFlock(() => validateManifest(target.document, `${agent} revision ${target.revision}`));
    if (parsed.digest !== target.digest) {
      throw new FlockError('manifest_integrity_failed', `revision ${target.revision} of "${agent}" hashes to ${parsed.digest}, not ${target.digest}: it is corrupt or was tampered with`, { agent, revision: target.revision });
    }
    return this.deps.deployments.apply(parsed, by, { cause: 'rollback', overrides: target.overrides, fromRevision: target.revision });
  }
}

function pick(revisions: RevisionRecord[], to: string): RevisionRecord | undefined {
  if (/^\d+$/.test(to)) return revisions.find((r) => r.revision === Number(to));
  const digest = digestOfRef(to);
  return digest ? revisions.findLast((r) => r.digest === digest) : undefined;
}
