import { actionRegistry, type ActionRegistry } from '../registry.js';
import { addConsent } from './add-consent.js';
import { addEventTags } from './add-event-tags.js';
import { addSegment } from './add-segment.js';
import { appendValue } from './append-value.js';
import { createResponse } from './create-response.js';
import { decrement } from './decrement.js';
import { deleteValue } from './delete-value.js';
import { end } from './end.js';
import { hasSegment } from './has-segment.js';
import { httpRequest } from './http-request.js';
import { ifAction } from './if.js';
import { increment } from './increment.js';
import { log } from './log.js';
import { mergeProfiles } from './merge-profiles.js';
import { pause } from './pause.js';
import { propertyExists } from './property-exists.js';
import { raiseEvent } from './raise-event.js';
import { readMemory } from './read-memory.js';
import { removeSegment } from './remove-segment.js';
import { removeValue } from './remove-value.js';
import { requireConsent } from './require-consent.js';
import { reshapePayload } from './reshape-payload.js';
import { scheduleEvent } from './schedule-event.js';
import { setValue } from './set-value.js';
import { start } from './start.js';
import { stop } from './stop.js';
import { switchEventType } from './switch-event-type.js';
import { uxSnippet } from './ux-snippet.js';
import { writeMemory } from './write-memory.js';

/** Every built-in action; the engine, validation and `GET /actions` read them from here. */
export const ACTIONS: ActionRegistry = actionRegistry([
  // flow control
  start,
  end,
  ifAction,
  switchEventType,
  propertyExists,
  stop,
  // data
  setValue,
  increment,
  decrement,
  appendValue,
  removeValue,
  deleteValue,
  reshapePayload,
  addEventTags,
  writeMemory,
  readMemory,
  // profile
  addSegment,
  removeSegment,
  hasSegment,
  addConsent,
  requireConsent,
  mergeProfiles,
  // outside world
  httpRequest,
  raiseEvent,
  // time
  scheduleEvent,
  pause,
  // response
  createResponse,
  uxSnippet,
  log,
]);
