/** Hosts of the flock and the tokens that let one join (migration 0015). */
export interface NodeCapacityRecord {
  cpus: number;
  memoryBytes: number;
  runtimes: string[];
  images: string[];
  gpus: { index: number; name: string; memoryBytes: number }[];
  /** Its runtime hands GPUs to sandboxes (capabilities.gpus); absent in rows stored before it was reported: no. */
  gpuSandboxes?: boolean;
}

export interface NodeRecord {
  name: string;
  labels: Record<string, string>;
  cordoned: boolean;
  draining: boolean;
  capacity: NodeCapacityRecord | null;
  joinedAt: string;
  lastHeartbeatAt: string | null;
  version: string | null;
  /** The public key of its bus credentials, to revoke them when it is removed. */
  credentialId: string | null;
}

export interface JoinTokenRecord {
  id: string;
  /** sha256 of the token; the token itself is never stored. */
  hash: string;
  singleUse: boolean;
  expiresAt: string;
  usedAt: string | null;
  usedBy: string | null;
  createdBy: string | null;
  createdAt: string;
}

export interface NodeStore {
  get(name: string): Promise<NodeRecord | undefined>;
  list(): Promise<NodeRecord[]>;
  /** Inserts a new node; false when the name is taken (checked by the database, not a read before). */
  add(node: NodeRecord): Promise<boolean>;
  update(node: NodeRecord): Promise<void>;
  remove(name: string): Promise<void>;
  addToken(token: JoinTokenRecord): Promise<void>;
  tokenByHash(hash: string): Promise<JoinTokenRecord | undefined>;
  /** Marks a single-use token used; false when another join used it first. */
  consumeToken(id: string, node: string, at: string): Promise<boolean>;
}
