-- Run log lines and events (issue 13): append-only, written in bulk by the write pipeline's drain and
-- read as a shape through the realtime routes (docs/decisions/090-run-logs.md).
--
-- "id" is the writer's per-item key. The drain derives it from the item's place in its Redis Stream
-- (partition, entry id, index in the entry), so re-applying a batch after a crash between COMMIT and
-- XACK conflicts on the primary key (INSERT … ON CONFLICT DO NOTHING, or COPY into a temporary table
-- first) instead of duplicating a line. Direct writers use a random id.
--
-- No foreign key to "TaskRun": a bulk apply must never fail a whole batch because one run was deleted
-- in between, and every read reaches a log through its run (same environment) anyway.

-- CreateTable
CREATE TABLE "TaskRunLog" (
    "id" TEXT NOT NULL,
    "runId" TEXT NOT NULL,
    "runtimeEnvironmentId" TEXT NOT NULL,
    "kind" TEXT NOT NULL DEFAULT 'log',
    "level" TEXT NOT NULL DEFAULT 'info',
    "message" TEXT NOT NULL,
    "attributes" JSONB NOT NULL DEFAULT '{}',
    "time" TIMESTAMP(3) NOT NULL,
    "seq" INTEGER NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "TaskRunLog_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "TaskRunLog_kind_check" CHECK ("kind" IN ('log', 'event')),
    CONSTRAINT "TaskRunLog_level_check" CHECK ("level" IN ('trace', 'debug', 'log', 'info', 'warn', 'error'))
);

-- CreateIndex: a run's logs in order ("time", then the writer's "seq" for lines of the same millisecond).
CREATE INDEX "TaskRunLog_runId_time_seq_idx" ON "TaskRunLog"("runId", "time", "seq");

-- Published from the first write on, like "TaskRun": REPLICA IDENTITY FULL set now rather than by the shape
-- server at the first shape (an ALTER TABLE on a busy table), and the table in the default publication.
ALTER TABLE "TaskRunLog" REPLICA IDENTITY FULL;
ALTER PUBLICATION "electric_publication_default" ADD TABLE "TaskRunLog";
