import { StorageType, type JetStreamClient, type JetStreamManager, type ObjectStore } from 'nats';
import type { ManifestArtefacts } from '@aiflock/core';

/** The object-store bucket holding manifests by digest, in the flock's own bus account. */
export const MANIFEST_BUCKET = 'aiflock-manifests';

/**
 * Manifests by content in JetStream's object store, so that every host on the bus can deploy
 * a revision by digest or CID without a shared disk. Objects are immutable: a digest already
 * stored is not written again (its content is the same by definition).
 */
export function natsManifestArtefacts(js: JetStreamClient, jsm: JetStreamManager, replicas: number): ManifestArtefacts {
  let bucket: Promise<ObjectStore> | null = null;
  const opened = async () => {
    const os = await js.views.os(MANIFEST_BUCKET, { storage: StorageType.File, replicas, description: 'aiflock agent manifests by sha256 digest' });
    // A bucket made before the flock grew to a cluster keeps its replicas when opened: scale it.
    const status = await os.status();
    if (status.replicas !== replicas) {
      const stream = `OBJ_${MANIFEST_BUCKET}`;
      const info = await jsm.streams.info(stream);
      await jsm.streams.update(stream, { ...info.config, num_replicas: replicas });
    }
    return os;
  };
  const open = () => {
    bucket ??= opened().catch((err: unknown) => {
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
