/**
 * Integration tests that need an external service (Redis, PostgreSQL, …) call serviceAvailable once
 * and skip when it is down, loudly, so a laptop without the service still gets a green unit run.
 * CI sets MERIDIAN_REQUIRE_SERVICES=1 so a missing service fails instead of silently skipping.
 */

import { withTimeout } from '../../src/shared/timeout.js';

const DEFAULT_PROBE_TIMEOUT_MS = 3_000;

function servicesRequired(): boolean {
  return process.env['MERIDIAN_REQUIRE_SERVICES'] === '1';
}

/**
 * Resolves true when `probe` succeeds within the timeout. Otherwise warns and resolves false, or
 * throws when MERIDIAN_REQUIRE_SERVICES=1.
 */
export async function serviceAvailable(
  name: string,
  probe: () => Promise<void>,
  timeoutMs = DEFAULT_PROBE_TIMEOUT_MS,
): Promise<boolean> {
  try {
    await withTimeout(probe(), timeoutMs, `no answer within ${timeoutMs} ms`);
    return true;
  } catch (error) {
    const reason = `${name} is unreachable (${error instanceof Error ? error.message : String(error)})`;
    if (servicesRequired()) throw new Error(`${reason}; it is required because MERIDIAN_REQUIRE_SERVICES=1`);
    console.warn(`\n*** SKIPPING tests: ${reason}. Set MERIDIAN_REQUIRE_SERVICES=1 to fail instead. ***\n`);
    return false;
  }
}
