import { StorageType, type JetStreamClient, type ObjectStore } from 'nats';
import type { ManifestArtefacts } from '@aiflock/core';

/** The object-store bucket holding manifests by digest, in the flock's own bus account. */
export const MANIFEST_BUCKET = 'aiflock-manifests';

/**
 * Manifests by content in JetStream's object store, so that every host on the bus can deploy
 * a revision by digest or CID without a shared disk. Objects are immutable: a digest already
 * stored is not written again (its content is the same by definition).
 */
export function natsManifestArtefacts(js: JetStreamClient): ManifestArtefacts {
  let bucket: Promise<ObjectStore> | null = null;
  const open = () => {
    bucket ??= js.views.os(MANIFEST_BUCKET, { storage: StorageType.File, description: 'aiflock agent manifests by sha256 digest' }).catch((err: unknown) => {
      bucket = null;
      throw err;
    });
    return bucket;
  };
  return {
    put: async (digest, document) => {
      const os = await open();
      if (await os.info(digest)) return;
      await os.putBlob({ name: digest, description: 'aiflock manifest document (our dialect, before defaults)' }, new TextEncoder().encode(JSON.stringify(document)));
    },
    get: async (digest) => {
      const os = await open();
      const data = await os.getBlob(digest);
      if (!data) return null;
      const parsed: unknown = JSON.parse(new TextDecoder().decode(data));
      return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : null;
    },
  };
}
