import { FlockError } from '../errors.js';

/**
 * Which image a manifest's sandbox runs: its own `image`, the daemon's default when it names
 * none, or, for `image: workbench`, the daemon's configured workbench image (Debian with git,
 * python3, build-essential, node and Chromium; scripts/build-workbench.sh). The one place
 * that decides it: the reconciler starts what this says, and the API shows the same.
 */
export const WORKBENCH = 'workbench';
export const DEFAULT_WORKBENCH_IMAGE = 'aiflock/workbench:latest';
export const WORKBENCH_BUILD_HINT = 'build it with: bash scripts/build-workbench.sh';

export interface ImageChoices {
  /** For manifests that name no image (config runtime.image). */
  defaultImage: string;
  /** For `image: workbench` (config runtime.workbenchImage); DEFAULT_WORKBENCH_IMAGE if unset. */
  workbenchImage?: string;
}

export function imageFor(manifestImage: string | undefined, choices: ImageChoices): string {
  if (manifestImage === undefined) return choices.defaultImage;
  if (manifestImage === WORKBENCH) return choices.workbenchImage ?? DEFAULT_WORKBENCH_IMAGE;
  return manifestImage;
}

/** A sandbox start error, saying how to build the workbench image when that is what is missing. */
export function explainStartError(err: unknown, manifestImage: string | undefined): string {
  const missingImage = err instanceof FlockError && (err.details as { field?: unknown } | undefined)?.field === 'image';
  return missingImage && manifestImage === WORKBENCH ? `${String(err)} (the workbench image; ${WORKBENCH_BUILD_HINT})` : String(err);
}
