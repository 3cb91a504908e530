export * from './names.js';
export * from './subjects.js';
export * from './task.js';
export * from './events.js';
export * from './runtime-env.js';
export * from './api.js';
export * from './permissions.js';
export * from './context.js';
