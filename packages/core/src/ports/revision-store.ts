/**
 * Every deploy that changed an agent, in order (Helm's release history): which manifest it
 * ran, by content, with who deployed it and why. The document is the manifest in our dialect
 * before defaults, with any `--set` overrides applied, so it can be deployed again or changed.
 */
export interface RevisionRecord {
  agent: string;
  /** 1, 2, 3... per agent. */
  revision: number;
  digest: string;
  cid: string;
  document: Record<string, unknown>;
  /** `--set path=value` overrides this revision applied (already in `document`). */
  overrides: string[];
  /** What the deploy was: a manifest, a stored revision by digest or CID, or a rollback. */
  cause: 'deploy' | 'deploy-ref' | 'rollback';
  /** The revision a rollback went back to. */
  fromRevision: number | null;
  /** Dotted paths of the manifest fields that differ from the previous revision. */
  changes: string[];
  deployedBy: string | null;
  deployedAt: string;
}

export interface RevisionStore {
  add(record: RevisionRecord): Promise<void>;
  /** Oldest first. */
  list(agent: string): Promise<RevisionRecord[]>;
  latest(agent: string): Promise<RevisionRecord | undefined>;
  /** Any agent's revision with this manifest digest (the newest). */
  byDigest(digest: string): Promise<RevisionRecord | undefined>;
  /** Forget an agent's history (when the agent is removed, so a new one of its name starts clean). */
  removeAgent(agent: string): Promise<void>;
}

/**
 * Where manifests are kept by content for every host of the flock (the bus's object store,
 * not a shared disk): a deploy puts the document there; a deploy by a digest the store has
 * no revision of gets it from there, and checks it against the digest before using it.
 */
export interface ManifestArtefacts {
  put(digest: string, document: Record<string, unknown>): Promise<void>;
  get(digest: string): Promise<Record<string, unknown> | null>;
}
