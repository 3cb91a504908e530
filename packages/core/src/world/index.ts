export * from './map.js';
export * from './pathfinding.js';
export * from './inputs.js';
export * from './state.js';
export * from './engine.js';
