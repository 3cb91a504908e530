// Durations and sizes are written by people in manifests and on the command line alike, so
// the parsers are part of the contract (protocol); the manifest schema uses them from there.
export { parseDuration, parseSize, formatSize } from '@aiflock/protocol';
