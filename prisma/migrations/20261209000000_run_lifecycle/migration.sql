-- The run lifecycle (docs/decisions/093-run-lifecycle-timers.md): attempts with heartbeats, retry and
-- timeout settings, TTL deadlines, debounce keys and cron schedules. The timers themselves live in
-- graphile-worker's own schema, installed by the same migrator after these files.

-- Settings and deadlines on the run (none of them streamed: the publication streams the 26 columns of
-- realtime-contract §5.1, and these change only when a streamed column changes too).
ALTER TABLE "TaskRun" ADD COLUMN "maxDurationInSeconds" INTEGER;
ALTER TABLE "TaskRun" ADD COLUMN "retryOptions" JSONB;
ALTER TABLE "TaskRun" ADD COLUMN "ttlExpiresAt" TIMESTAMP(3);
ALTER TABLE "TaskRun" ADD COLUMN "nextAttemptAt" TIMESTAMP(3);
ALTER TABLE "TaskRun" ADD COLUMN "debounceKey" TEXT;
ALTER TABLE "TaskRun" ADD COLUMN "debounceUntil" TIMESTAMP(3);
ALTER TABLE "TaskRun" ADD COLUMN "scheduleId" TEXT;

-- One DELAYED run per debounce key and task in an environment: the run later triggers collapse into.
CREATE UNIQUE INDEX "TaskRun_debounce_key" ON "TaskRun" ("runtimeEnvironmentId", "taskIdentifier", "debounceKey")
  WHERE "debounceKey" IS NOT NULL AND status = 'DELAYED';
-- The sweeps: due delayed runs, expired queued runs, due retries.
CREATE INDEX "TaskRun_delayed_due" ON "TaskRun" ("delayUntil") WHERE status = 'DELAYED';
CREATE INDEX "TaskRun_ttl_due" ON "TaskRun" ("ttlExpiresAt") WHERE status IN ('PENDING', 'DELAYED') AND "ttlExpiresAt" IS NOT NULL;
CREATE INDEX "TaskRun_retry_due" ON "TaskRun" ("nextAttemptAt") WHERE status = 'RETRYING_AFTER_FAILURE';
CREATE INDEX "TaskRun_executing" ON "TaskRun" ("startedAt") WHERE status = 'EXECUTING';

-- One row per attempt: who runs it and its last sign of life. Heartbeats write here, never to the
-- streamed TaskRun row, so a heartbeat is not a feed update.
CREATE TABLE "TaskRunAttempt" (
    "runId" TEXT NOT NULL,
    "number" INTEGER NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'EXECUTING',
    "workerId" TEXT NOT NULL,
    "startedAt" TIMESTAMP(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    "heartbeatAt" TIMESTAMP(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    "completedAt" TIMESTAMP(3),
    "error" JSONB,
    CONSTRAINT "TaskRunAttempt_pkey" PRIMARY KEY ("runId", "number"),
    CONSTRAINT "TaskRunAttempt_runId_fkey" FOREIGN KEY ("runId") REFERENCES "TaskRun"("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX "TaskRunAttempt_executing" ON "TaskRunAttempt" ("heartbeatAt") WHERE status = 'EXECUTING';

-- Cron schedules: each tick triggers one run of the task (idempotency key schedule:<id>:<tick>).
CREATE TABLE "TaskSchedule" (
    "id" TEXT NOT NULL,
    "friendlyId" TEXT NOT NULL,
    "runtimeEnvironmentId" TEXT NOT NULL,
    "projectId" TEXT NOT NULL,
    "taskIdentifier" TEXT NOT NULL,
    "cron" TEXT NOT NULL,
    "timezone" TEXT NOT NULL DEFAULT 'UTC',
    "externalId" TEXT,
    "deduplicationKey" TEXT,
    "active" BOOLEAN NOT NULL DEFAULT true,
    "nextRunAt" TIMESTAMP(3),
    "lastRunAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "TaskSchedule_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "TaskSchedule_runtimeEnvironmentId_fkey" FOREIGN KEY ("runtimeEnvironmentId") REFERENCES "RuntimeEnvironment"("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE UNIQUE INDEX "TaskSchedule_friendlyId_key" ON "TaskSchedule"("friendlyId");
CREATE UNIQUE INDEX "TaskSchedule_runtimeEnvironmentId_deduplicationKey_key" ON "TaskSchedule"("runtimeEnvironmentId", "deduplicationKey");
