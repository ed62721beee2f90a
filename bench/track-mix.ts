/**
 * The /track load the bench sends: one page-view event per request; a share of new visitors (no
 * profile or session id), the rest one of the returning visitors created before the run. Both load
 * generators send it: autocannon through `mixedBodies`, wrk through the same bodies written into its
 * Lua script (bench/wrk.ts).
 */

export interface Visitor {
  profile: string;
  session: string;
}

export interface TrackMix {
  sourceId: string;
  /** Returning visitors; empty: every request is a new visitor. */
  pool: readonly Visitor[];
  /** Share of requests from new visitors, 0..1. */
  newRatio: number;
}

export const PAGES = ['/', '/products', '/products/42', '/cart', '/checkout', '/blog/launch', '/pricing', '/about'];

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)] as T;

export function trackBody(sourceId: string, page: string, visitor?: Visitor): string {
  return JSON.stringify({
    source: { id: sourceId },
    ...(visitor ? { profile: { id: visitor.profile }, session: { id: visitor.session } } : {}),
    events: [
      { type: 'page-view', properties: { url: `https://shop.example${page}`, title: `Page ${page}`, referrer: '' } },
    ],
  });
}

/** A body per call: a new visitor with probability `newRatio` (or when the pool is empty), else a returning one. */
export function mixedBodies(mix: TrackMix): () => string {
  return () =>
    mix.pool.length === 0 || Math.random() < mix.newRatio
      ? trackBody(mix.sourceId, pick(PAGES))
      : trackBody(mix.sourceId, pick(PAGES), pick(mix.pool));
}
