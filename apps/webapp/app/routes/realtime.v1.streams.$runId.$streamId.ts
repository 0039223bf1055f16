/**
 * GET /realtime/v1/streams/:runId/:key — a run's stream as server-sent events (`id:` entry id, `data:`
 * one JSON chunk), from the archive and then live, resumable with Last-Event-ID; the body ends when the
 * stream ends (docs/decisions/081-realtime-streams.md). Readable with the scopes that read the run
 * (`read:runs:<id>`, its tags, batch or task); another environment's run is a 404.
 */
import { StreamReadParams, streamReadRoute } from "../services/realtime/streams/streamRequests.server";

const route = streamReadRoute("realtime.v1.streams.read", StreamReadParams, (key) => key);

export const loader = route.loader;
export const action = route.action;
