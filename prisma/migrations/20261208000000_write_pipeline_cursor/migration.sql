-- Write pipeline (docs/decisions/092-write-pipeline.md): per Redis stream (class and partition), the id
-- of the last entry the drain applied, written in the same transaction as the entries' effects, and the
-- fence of the drain that owns the stream. A re-delivered entry at or below "lastId" is never applied
-- again; a drain whose fence is not the row's has lost the stream and commits nothing.

-- CreateTable
CREATE TABLE "WritePipelineCursor" (
    "stream" TEXT NOT NULL,
    "lastId" TEXT NOT NULL DEFAULT '0-0',
    "fence" BIGINT NOT NULL DEFAULT 0,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "WritePipelineCursor_pkey" PRIMARY KEY ("stream")
);
