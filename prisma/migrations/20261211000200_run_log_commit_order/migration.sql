-- The native run-log feed (docs/decisions/090-run-logs.md, 073): each log row records the id of the
-- transaction that stored it, so a reader can tell which rows are final. Every row of a transaction id
-- below the snapshot's xmin is committed and visible; nothing stored later can fall below it. A feed's
-- offset is that xmin: the next read takes the rows from there on, in commit order, none twice.
-- Rows stored before this migration all carry its transaction id.

ALTER TABLE "TaskRunLog" ADD COLUMN "txid" BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint);

CREATE INDEX "TaskRunLog_runId_txid_idx" ON "TaskRunLog"("runId", "txid");
