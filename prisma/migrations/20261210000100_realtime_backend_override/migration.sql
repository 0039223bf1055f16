-- An organisation's own realtime backend (docs/decisions/073-realtime-notifier-backend.md): NULL follows
-- REALTIME_BACKEND; otherwise its run feeds are served by the shape server, natively, or in shadow mode.
ALTER TABLE "Organization" ADD COLUMN "realtimeBackend" TEXT
  CHECK ("realtimeBackend" IN ('electric', 'native', 'shadow'));
