export * from '../shared/errors.js';
