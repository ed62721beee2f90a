import type { ActionSpec } from './model.js';

/** The actions a flow may use, by id. The engine and validation look actions up here only. */
export interface ActionRegistry {
  get(id: string): ActionSpec | undefined;
  list(): readonly ActionSpec[];
}

export function actionRegistry(specs: readonly ActionSpec[]): ActionRegistry {
  const byId = new Map<string, ActionSpec>();
  for (const spec of specs) {
    if (byId.has(spec.id)) throw new Error(`two actions have the id ${spec.id}`);
    byId.set(spec.id, spec);
  }
  const all = [...byId.values()];
  return { get: (id) => byId.get(id), list: () => all };
}

/** Declares an action with its config type checked against `run`, stored as the registry's common shape. */
export function defineAction<Config>(spec: ActionSpec<Config>): ActionSpec {
  return spec as unknown as ActionSpec;
}

/** The output ports of a node: fixed by its action, or derived from its config (a switch's cases). */
export function portsOf(spec: ActionSpec, config: Record<string, unknown>): readonly string[] {
  return spec.portsFor ? spec.portsFor(config) : spec.outputs;
}
