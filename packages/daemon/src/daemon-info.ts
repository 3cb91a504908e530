import { join } from 'node:path';

/** Where the CLI finds a running daemon. */
export const daemonInfoFile = (dataDir: string) => join(dataDir, 'daemon.json');
