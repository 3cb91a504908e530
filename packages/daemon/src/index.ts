export { startDaemon, daemonInfoFile, type DaemonHandle } from './daemon.js';
export { loadConfig, defaultDataDir, ConfigError, type Config } from './config.js';
export { VERSION } from './version.js';
