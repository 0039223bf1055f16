/**
 * POST /realtime/v1/streams/:runId/:target/:key/append — one part: the body text, stored as one chunk
 * (a JSON string, as the SDK's readers expect). `{"ok":true}`, or `{"ok":false,"error"}` with 400 once
 * the run finished and 413 past a cap.
 */
import { createApiRoute, readText } from "../services/apiRoute.server";
import type { HttpError } from "../services/httpErrors.server";
import { capReached, runFinished } from "../services/realtime/streams/streamIngest.server";
import { writableStream, writeRoute } from "../services/realtime/streams/streamWriteRoute.server";

const route = createApiRoute(
  writeRoute("realtime.v1.streams.append", "POST"),
  async ({ request, resource, params, services }) => {
    const { streams, metrics } = services;
    const ref = await writableStream(services, resource, params.streamId);
    const part = await readText(request, streams.limits.maxChunkBytes);
    const outcome = await streams.store.append(ref, [JSON.stringify(part)], streams.limits);
    metrics.streamChunksWritten.inc(outcome.written);
    if (outcome.kind === "finished") return okFalse(runFinished());
    if (outcome.kind === "too-large") return okFalse(capReached(outcome.cap, streams.limits));
    return Response.json({ ok: true });
  },
);

const okFalse = (error: HttpError) =>
  Response.json({ ok: false, ...error.body }, { status: error.status, headers: error.headers });

export const action = route.action;
export const loader = route.loader;
