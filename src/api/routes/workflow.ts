import type { FastifyInstance } from 'fastify';
import type { WorkflowServices } from '../../workflow/ports.js';
import { actionRoutes } from './actions.js';
import { flowRoutes } from './flows.js';
import { ruleRoutes } from './rules.js';
import { runRoutes } from './runs.js';

/** Flows, rules, actions and run history, registered together. */
export function workflowRoutes(services: WorkflowServices) {
  return async (app: FastifyInstance) => {
    await app.register(flowRoutes(services));
    await app.register(ruleRoutes(services));
    await app.register(actionRoutes(services));
    await app.register(runRoutes(services));
  };
}
