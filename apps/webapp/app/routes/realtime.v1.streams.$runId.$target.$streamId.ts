/**
 * The v1 stream writer's endpoints (docs/decisions/081-realtime-streams.md):
 * - PUT  creates the stream: lists it on the run (`realtimeStreams`) and answers `{"version":"v1"}`;
 * - POST takes its chunks as newline-delimited JSON, for as long as the body stays open;
 * - HEAD answers `x-last-chunk-index`, the last chunk stored for the writer's `x-client-id`, so a
 *   writer whose connection broke resumes from the next one (and a resent chunk is not stored twice).
 * Writes need the environment's secret key or a token with `write:streams:<runId>` (the run's own).
 */
import {
  STREAM_CLIENT_ID_HEADER,
  STREAM_LAST_CHUNK_INDEX_HEADER,
  STREAM_PROTOCOL_VERSION,
  STREAM_RESUME_FROM_CHUNK_HEADER,
} from "@runfeed/core";
import type { ActionFunctionArgs } from "@remix-run/node";
import { createApiRoute } from "../services/apiRoute.server";
import { badRequest } from "../services/httpErrors.server";
import { WriterGoneError, ingestNdjson } from "../services/realtime/streams/streamIngest.server";
import { writableStream, writeRoute } from "../services/realtime/streams/streamWriteRoute.server";

const create = createApiRoute(
  writeRoute("realtime.v1.streams.create", "PUT"),
  async ({ resource, params, services }) => {
    const ref = await writableStream(services, resource, params.streamId);
    await services.streams.store.create(ref, services.streams.limits.ttlMs);
    return Response.json({ version: STREAM_PROTOCOL_VERSION }, { status: 202 });
  },
);

const ingest = createApiRoute(
  writeRoute("realtime.v1.streams.ingest", "POST"),
  async ({ request, resource, params, services, bodyStream }) => {
    const writer = writerOf(request);
    if (!bodyStream) throw badRequest("No body provided: send the stream's chunks as newline-delimited JSON");
    const ref = await writableStream(services, resource, params.streamId);
    const { streams, metrics } = services;
    try {
      await ingestNdjson(bodyStream, {
        store: streams.store,
        ref,
        limits: streams.limits,
        writer,
        leaseIntervalMs: streams.leaseIntervalMs,
        onWritten: (chunks) => metrics.streamChunksWritten.inc(chunks),
      });
    } catch (error) {
      if (!(error instanceof WriterGoneError)) throw error;
      // Nobody is left to answer; the complete lines it sent are stored, a torn last one is not.
      services.logger.info(
        { run: resource.run.friendlyId, stream: params.streamId, stored: error.result.written, err: error.message },
        "stream writer disconnected mid-body",
      );
      return new Response(null, { status: 499 });
    }
    return new Response(null, { status: 200 });
  },
);

const lastChunk = createApiRoute(
  writeRoute("realtime.v1.streams.last-chunk", "GET"),
  async ({ request, resource, params, services }) => {
    if (!resource.target) return new Response(null, { status: 404 });
    const clientId = writerOf(request)?.clientId ?? "default";
    const index = await services.streams.store.lastChunkIndex(
      { runId: resource.target.id, key: params.streamId },
      clientId,
    );
    return new Response(null, { status: 200, headers: { [STREAM_LAST_CHUNK_INDEX_HEADER]: String(index) } });
  },
);

/** The writer's `x-client-id` and `x-resume-from-chunk`; without a client id, lines are not numbered. */
function writerOf(request: Request): { clientId: string; firstIndex: number } | undefined {
  const clientId = request.headers.get(STREAM_CLIENT_ID_HEADER);
  const resume = request.headers.get(STREAM_RESUME_FROM_CHUNK_HEADER);
  if (clientId !== null && !/^[A-Za-z0-9_.-]{1,64}$/.test(clientId))
    throw badRequest(`Invalid ${STREAM_CLIENT_ID_HEADER}: 1 to 64 letters, digits, '.', '_' or '-'`);
  if (resume !== null && !/^\d{1,15}$/.test(resume))
    throw badRequest(`Invalid ${STREAM_RESUME_FROM_CHUNK_HEADER}: a chunk index (a whole number ≥ 0), got "${resume}"`);
  if (clientId === null) return undefined;
  return { clientId, firstIndex: resume === null ? 0 : Number(resume) };
}

export const loader = lastChunk.loader;
export const action = (args: ActionFunctionArgs) =>
  args.request.method === "PUT" ? create.action(args) : ingest.action(args);
