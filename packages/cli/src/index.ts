export { ApiClient, CliError } from './client.js';
export { EXIT } from './exit-codes.js';
