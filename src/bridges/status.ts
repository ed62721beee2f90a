/**
 * Bridge status across processes: each process running bridges rewrites a row per bridge every few
 * seconds (the heartbeat) through `BridgeStatusStore`, and removes its rows when it stops; anyone
 * reads them all (`meridian bridge status`, /healthcheck). A row whose heartbeat is older than three
 * intervals belongs to a process that died without saying so: it is shown as stale.
 */
import type { BridgeCounters } from './bridge.js';

/** `connecting`: not started yet (the broker is down or refused); `disconnected`: started, now reconnecting. */
export type BridgeState = 'connecting' | 'connected' | 'disconnected';

export interface BridgeStatus extends BridgeCounters {
  processId: string;
  host: string;
  pid: number;
  kind: string;
  sourceId: string;
  state: BridgeState;
  /** Messages settled (stored or dead-lettered) per second over the last interval. */
  rate: number;
  lastError: string | null;
  lastErrorAt: string | null;
  startedAt: string;
  heartbeatAt: string;
}

export interface BridgeStatusStore {
  /** Replaces the process's rows with these (a bridge no longer served loses its row). */
  publish(processId: string, rows: readonly BridgeStatus[]): Promise<void>;
  /** The process stopped: its rows go. */
  remove(processId: string): Promise<void>;
  list(): Promise<BridgeStatus[]>;
}

/** What a reader shows: the row, and whether its process has stopped answering. */
export type BridgeStatusView = BridgeStatus & { stale: boolean };

/** How often a process publishes its bridges' status. */
export const STATUS_INTERVAL_MS = 5_000;

export function viewOf(row: BridgeStatus, now: Date, intervalMs = STATUS_INTERVAL_MS): BridgeStatusView {
  return { ...row, stale: now.getTime() - Date.parse(row.heartbeatAt) > 3 * intervalMs };
}

/** Messages settled per second between two readings of a bridge's counters. */
export function rateOf(before: BridgeCounters | undefined, after: BridgeCounters, elapsedMs: number): number {
  if (before === undefined || elapsedMs <= 0) return 0;
  const settled = (counters: BridgeCounters) => counters.stored + counters.deadLettered;
  return Math.round(((settled(after) - settled(before)) * 1000 * 10) / elapsedMs) / 10;
}

/** `meridian bridge status` as text: one line per bridge, the stale ones said so. */
export function formatStatus(views: readonly BridgeStatusView[]): string {
  if (views.length === 0) return 'no bridge is running';
  const header = [
    'KIND',
    'SOURCE',
    'PROCESS',
    'STATE',
    'RECEIVED',
    'STORED',
    'DEAD',
    'RETRIED',
    'RATE/S',
    'HEARTBEAT',
    'LAST ERROR',
  ];
  const rows = views.map((view) => [
    view.kind,
    view.sourceId,
    `${view.host}:${view.pid}`,
    view.stale ? `${view.state} (stale)` : view.state,
    String(view.received),
    String(view.stored),
    String(view.deadLettered),
    String(view.retried),
    String(view.rate),
    view.heartbeatAt,
    view.lastError === null ? '' : `${view.lastErrorAt} ${view.lastError}`,
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  return [header, ...rows]
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
