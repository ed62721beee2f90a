import type { ImportApiServices } from './routes/imports.js';
import type { Deployer } from '../deploy/plan.js';
import type { IdentityAdmin, PointCache } from '../identity/identity.js';
import type { IdentificationPointRepository } from '../identity/ports.js';
import type { RedirectRepository } from '../bridges/redirect.js';
import type { BridgeStatusView } from '../bridges/status.js';
import type { SegmentRepository } from '../segmentation/ports.js';
import type { MappingServices } from '../mapping/ports.js';
import type { SchedulerServices } from '../scheduler/service.js';
import type { WorkflowServices } from '../workflow/ports.js';
import type { EventSourceRepository, TrackingReadModel } from '../tracking/ports.js';
import type { SourceCache } from '../tracking/source-cache.js';
import type { Tracker } from '../tracking/tracker.js';
import type { TriggerStore } from '../triggers/ports.js';

/** The HTTP layer's settings, as the composition root reads them from Config (API_TOKEN, MAX_PAYLOAD_BYTES…). */
export interface ApiSettings {
  /** Bearer token of the admin API; absent: the admin API answers 401. */
  apiToken: string | undefined;
  maxPayloadBytes: number;
  /** Origins that may call the public routes from a browser; true: any. */
  corsOrigins: true | string[];
  /** Origins that may call the admin API from a browser. */
  adminCorsOrigins: true | string[];
  /** How far back a rule replay reaches (SEGMENT_CHANGES_RETENTION_DAYS; 0: no limit). */
  segmentChangesRetentionDays: number;
}

/** What the HTTP layer needs, wired by the composition root. */
export interface ApiServices {
  config: ApiSettings;
  tracker: Tracker;
  sources: EventSourceRepository;
  redirects: RedirectRepository;
  sourceCache: SourceCache;
  readModel: TrackingReadModel;
  segmentation: {
    segments: SegmentRepository;
    /** Queues a full re-decision of one segment's members; false when the queue could not take it yet. */
    resegment: (segmentId: string) => Promise<boolean>;
  };
  mapping: MappingServices;
  /** The segment_changes outbox: its backlog, and rule replays. */
  triggers: TriggerStore;
  scheduler: SchedulerServices;
  workflow: WorkflowServices;
  importing: ImportApiServices;
  deployer: Deployer;
  identity: { identity: IdentityAdmin; points: IdentificationPointRepository; pointCache: PointCache };
  /** `storage` and `queue` throw when their backend is unreachable; `bridges` reads what every bridge process published. */
  health: { storage: () => Promise<void>; queue: () => Promise<void>; bridges: () => Promise<BridgeStatusView[]> };
}
