-- Runs of segmentation flows: `meridian job segmentation` runs each enabled flow of type segmentation
-- once per profile per job run, with no event; their id is derived from job run, flow and profile.
ALTER TABLE workflow_runs DROP CONSTRAINT workflow_runs_trigger_check;
ALTER TABLE workflow_runs ADD CONSTRAINT workflow_runs_trigger_check
  CHECK (trigger IN ('event', 'segment-entered', 'segment-left', 'manual', 'resume', 'segmentation'));
