-- Realtime streams: the archive of streams written from inside runs (docs/decisions/081-realtime-streams.md).
-- Live chunks are in Redis Streams; a stream is copied here in bulk when it ends or its run finishes.

-- CreateTable
CREATE TABLE "RealtimeStream" (
    "runId" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "runtimeEnvironmentId" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "endedAt" TIMESTAMP(3),
    "archivedAt" TIMESTAMP(3),
    "chunkCount" INTEGER NOT NULL DEFAULT 0,
    "byteCount" BIGINT NOT NULL DEFAULT 0,
    "archivedMs" BIGINT NOT NULL DEFAULT 0,
    "archivedSeq" BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT "RealtimeStream_pkey" PRIMARY KEY ("runId","key")
);

-- CreateTable
CREATE TABLE "RealtimeStreamSegment" (
    "runId" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "lastMs" BIGINT NOT NULL,
    "lastSeq" BIGINT NOT NULL,
    "firstMs" BIGINT NOT NULL,
    "firstSeq" BIGINT NOT NULL,
    "chunkCount" INTEGER NOT NULL,
    "entries" TEXT NOT NULL,
    CONSTRAINT "RealtimeStreamSegment_pkey" PRIMARY KEY ("runId","key","lastMs","lastSeq")
);

-- CreateIndex
CREATE INDEX "RealtimeStream_endedAt_idx" ON "RealtimeStream"("endedAt");

-- AddForeignKey
ALTER TABLE "RealtimeStream" ADD CONSTRAINT "RealtimeStream_runId_fkey" FOREIGN KEY ("runId") REFERENCES "TaskRun"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "RealtimeStreamSegment" ADD CONSTRAINT "RealtimeStreamSegment_runId_key_fkey" FOREIGN KEY ("runId", "key") REFERENCES "RealtimeStream"("runId", "key") ON DELETE CASCADE ON UPDATE CASCADE;
