import { counter } from './increment.js';

export const decrement = counter('decrement', 'Decrement', -1);
