export { createMemoryBus } from './memory-bus.js';
