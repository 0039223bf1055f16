-- Indexes of columns most runs leave NULL hold only the runs that set them
-- (docs/decisions/093-run-lifecycle-timers.md "Dequeue"). A status change is never a HOT update (status
-- is in the predicate of the lifecycle's partial indexes), so every change of a run added an entry to
-- each of these indexes, for a NULL that no query looks up: every query of these columns is an equality
-- (`= $1`), which implies IS NOT NULL, so the planner still uses them; a unique index never compares
-- NULLs, so each still allows what it allowed. Same names, so unique-violation errors read as before.
DROP INDEX "TaskRun_oneTimeUseToken_key";
CREATE UNIQUE INDEX "TaskRun_oneTimeUseToken_key" ON "TaskRun"("oneTimeUseToken") WHERE "oneTimeUseToken" IS NOT NULL;
DROP INDEX "TaskRun_runtimeEnvironmentId_taskIdentifier_idempotencyKey_key";
CREATE UNIQUE INDEX "TaskRun_runtimeEnvironmentId_taskIdentifier_idempotencyKey_key"
  ON "TaskRun"("runtimeEnvironmentId", "taskIdentifier", "idempotencyKey") WHERE "idempotencyKey" IS NOT NULL;
DROP INDEX "TaskRun_batchId_idx";
CREATE INDEX "TaskRun_batchId_idx" ON "TaskRun"("batchId") WHERE "batchId" IS NOT NULL;
DROP INDEX "TaskRun_parentTaskRunId_idx";
CREATE INDEX "TaskRun_parentTaskRunId_idx" ON "TaskRun"("parentTaskRunId") WHERE "parentTaskRunId" IS NOT NULL;
