/** An admin's freeze of an agent's compute: while frozen its tier is `none`. */
export interface ComputeControl {
  agent: string;
  frozen: boolean;
  note: string | null;
  updatedBy: string;
  updatedAt: string;
}

export interface ComputeControlStore {
  get(agent: string): Promise<ComputeControl | undefined>;
  set(control: ComputeControl): Promise<void>;
}
