/** Reported in heartbeats; keep in step with package.json (a JSON import would leave rootDir). */
export const RUNTIME_VERSION = '0.1.0';
