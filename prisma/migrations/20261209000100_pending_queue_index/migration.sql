-- The worker's claim (apps/webapp/app/worker/claim.server.ts) walks the queues with queued runs by a
-- skip-scan over this index (one probe per queue, not one row per queued run), then takes each queue's
-- oldest runs from the same index. A NULL queue is the queue named ''.
CREATE INDEX "TaskRun_pending_queue" ON "TaskRun" ("runtimeEnvironmentId", (COALESCE(queue, '')), "queuedAt", "createdAt", id)
  WHERE status = 'PENDING';
