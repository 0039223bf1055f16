-- Per-queue concurrency limits (docs/decisions/093-run-lifecycle-timers.md). A queue with a limit has a
-- row here; the worker's claim locks it (FOR UPDATE SKIP LOCKED, which reads its newest version), takes
-- at most "concurrencyLimit" - "executing" of its runs and adds what it took to "executing" in the same
-- statement (the claim is the one way into EXECUTING). The trigger below takes runs off the count on
-- every way out of EXECUTING (completion, retry, cancel, timeout, crash, shutdown, delete), whichever
-- code wrote it; it does not fire on the claim itself, so the hot path pays nothing per run for it.
CREATE TABLE "TaskQueue" (
    "runtimeEnvironmentId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "concurrencyLimit" INTEGER,
    "executing" INTEGER NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    CONSTRAINT "TaskQueue_pkey" PRIMARY KEY ("runtimeEnvironmentId", "name"),
    CONSTRAINT "TaskQueue_concurrencyLimit_check" CHECK ("concurrencyLimit" IS NULL OR "concurrencyLimit" >= 0),
    CONSTRAINT "TaskQueue_runtimeEnvironmentId_fkey" FOREIGN KEY ("runtimeEnvironmentId") REFERENCES "RuntimeEnvironment"("id") ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE FUNCTION "TaskQueue_count_executing"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' AND OLD.status = 'EXECUTING' THEN
    UPDATE "TaskQueue" SET "executing" = GREATEST("executing" - 1, 0)
    WHERE "runtimeEnvironmentId" = OLD."runtimeEnvironmentId" AND "name" = COALESCE(OLD.queue, '');
  END IF;
  IF TG_OP <> 'DELETE' AND NEW.status = 'EXECUTING' THEN
    UPDATE "TaskQueue" SET "executing" = "executing" + 1
    WHERE "runtimeEnvironmentId" = NEW."runtimeEnvironmentId" AND "name" = COALESCE(NEW.queue, '');
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER "TaskQueue_count_executing_update" AFTER UPDATE OF status, queue ON "TaskRun"
  FOR EACH ROW
  WHEN (OLD.status = 'EXECUTING' AND (NEW.status <> 'EXECUTING' OR OLD.queue IS DISTINCT FROM NEW.queue))
  EXECUTE FUNCTION "TaskQueue_count_executing"();
-- A run written as EXECUTING directly (fixtures, imports) counts too.
CREATE TRIGGER "TaskQueue_count_executing_insert" AFTER INSERT ON "TaskRun"
  FOR EACH ROW WHEN (NEW.status = 'EXECUTING') EXECUTE FUNCTION "TaskQueue_count_executing"();
CREATE TRIGGER "TaskQueue_count_executing_delete" AFTER DELETE ON "TaskRun"
  FOR EACH ROW WHEN (OLD.status = 'EXECUTING') EXECUTE FUNCTION "TaskQueue_count_executing"();

-- The claim reads TaskRun_pending_queue (20261209000100); nothing reads this index any more, and every
-- status change paid for it.
DROP INDEX IF EXISTS "TaskRun_status_queuedAt_idx";
