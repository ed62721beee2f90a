import { actionRegistry, type ActionRegistry } from '../registry.js';
import { addSegment } from './add-segment.js';
import { decrement } from './decrement.js';
import { end } from './end.js';
import { hasSegment } from './has-segment.js';
import { ifAction } from './if.js';
import { increment } from './increment.js';
import { removeSegment } from './remove-segment.js';
import { setValue } from './set-value.js';
import { start } from './start.js';

/** Every built-in action; the engine, validation and `GET /actions` read them from here. */
export const ACTIONS: ActionRegistry = actionRegistry([
  start,
  end,
  ifAction,
  setValue,
  increment,
  decrement,
  addSegment,
  removeSegment,
  hasSegment,
]);
