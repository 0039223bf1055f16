-- An attempt row is inserted by one statement only, the worker's claim, in the same statement that moves
-- its run to EXECUTING while holding that run's row lock: the run exists, and cannot be deleted before
-- the claim commits. The foreign key checked exactly that again for every claimed run (a query per row,
-- a tenth of the claim's time, docs/decisions/093-run-lifecycle-timers.md "Dequeue"). What it did besides
-- is kept: deleting runs (directly or through their environment) deletes their attempts, once per
-- statement.
ALTER TABLE "TaskRunAttempt" DROP CONSTRAINT "TaskRunAttempt_runId_fkey";

CREATE FUNCTION "TaskRunAttempt_delete_with_runs"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM "TaskRunAttempt" a USING deleted_runs d WHERE a."runId" = d.id;
  RETURN NULL;
END $$;

CREATE TRIGGER "TaskRunAttempt_delete_with_runs" AFTER DELETE ON "TaskRun"
  REFERENCING OLD TABLE AS deleted_runs FOR EACH STATEMENT EXECUTE FUNCTION "TaskRunAttempt_delete_with_runs"();
