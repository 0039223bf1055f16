-- Logical replication of runs (ARCHITECTURE.md, electric-protocol.md §9.1).
-- REPLICA IDENTITY FULL gives old rows on UPDATE/DELETE, which where-clause membership needs.
ALTER TABLE "TaskRun" REPLICA IDENTITY FULL;

-- The publication the shape server (ours, or the real Electric with the default stream id) streams from.
-- Created here so that the table is published from the first write on; the shape server reuses it.
CREATE PUBLICATION "electric_publication_default" FOR TABLE "TaskRun";
