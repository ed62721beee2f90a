import type { Config } from '../config/config.js';
import type { SegmentRepository } from '../segmentation/ports.js';
import type { MappingServices } from '../mapping/ports.js';
import type { WorkflowServices } from '../workflow/ports.js';
import type { EventSourceRepository, TrackingReadModel } from '../tracking/ports.js';
import type { SourceCache } from '../tracking/source-cache.js';
import type { Tracker } from '../tracking/tracker.js';

/** What the HTTP layer needs, wired by the entry that starts it. */
export interface ApiServices {
  config: Pick<Config, 'apiToken' | 'maxPayloadBytes' | 'corsOrigins' | 'adminCorsOrigins'>;
  tracker: Tracker;
  sources: EventSourceRepository;
  sourceCache: SourceCache;
  readModel: TrackingReadModel;
  segmentation: {
    segments: SegmentRepository;
    /** Queues a full re-decision of one segment's members; false when the queue could not take it yet. */
    resegment: (segmentId: string) => Promise<boolean>;
  };
  mapping: MappingServices;
  workflow: WorkflowServices;
  /** Each throws when its backend is unreachable. */
  health: { storage: () => Promise<void>; queue: () => Promise<void> };
}
