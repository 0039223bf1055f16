/**
 * What the realtime stream routes share: their params, the run a writer's URL resolves to, and the
 * SSE response of a reader (concurrency limit, request headers → reader options).
 */
import {
  INPUT_STREAM_KEY_PREFIX,
  LAST_EVENT_ID_HEADER,
  STREAM_PROTOCOL_VERSION,
  STREAM_START_HEADER,
  STREAM_START_LATEST,
  STREAM_TARGETS,
  STREAM_TIMEOUT_SECONDS_HEADER,
  STREAM_VERSION_HEADER,
  EVENT_STREAM_CONTENT_TYPE,
  parseLastEventId,
  streamKeyProblem,
  type StreamTarget,
} from "@runfeed/core";
import type { PrismaClient } from "@runfeed/database";
import { z } from "zod";
import type { Authentication } from "../../auth.server";
import { createApiRoute } from "../../apiRoute.server";
import { runResources } from "../feedLookups.server";
import { badRequest, limiterUnavailable, tooManyConcurrentRequests } from "../../httpErrors.server";
import { ResourceId } from "../../runLookup.server";
import type { Services } from "../../services.server";
import { withDirectBody } from "../../directBody.server";
import { streamEventBody, streamEventSource } from "./streamReader.server";
import type { StreamRef } from "./streamStore.server";

/** A stream key in a path: see `streamKeyProblem` (reserved `$trigger.` keys only where allowed). */
const streamKey = (allowReserved: boolean) =>
  z.string().superRefine((key, ctx) => {
    const problem = streamKeyProblem(key, { allowReserved });
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });

export const StreamWriteParams = z.object({
  runId: ResourceId,
  target: z.enum(STREAM_TARGETS),
  streamId: streamKey(false),
});

/** Readers may name the reserved keys (an input stream read through the output route is the same data). */
export const StreamReadParams = z.object({ runId: ResourceId, streamId: streamKey(true) });

export const InputStreamParams = z.object({ runId: ResourceId, streamId: streamKey(false) });

export const inputStreamKey = (streamId: string) => `${INPUT_STREAM_KEY_PREFIX}${streamId}`;

export interface StreamWriteRun {
  id: string;
  friendlyId: string;
  completedAt: Date | null;
}

/** The run in a writer's URL (authorization is on it) and the run its target names. */
export interface StreamWriteTarget {
  run: StreamWriteRun;
  target: StreamWriteRun | null;
}

const WRITE_SELECT = { id: true, friendlyId: true, completedAt: true } as const;

export async function findStreamWriteTarget(
  prisma: PrismaClient,
  authentication: Authentication,
  friendlyId: string,
  target: StreamTarget,
): Promise<StreamWriteTarget | null> {
  const run = await prisma.taskRun.findFirst({
    where: { friendlyId, runtimeEnvironmentId: authentication.environment.id },
    select: { ...WRITE_SELECT, parentTaskRunId: true, rootTaskRunId: true },
  });
  if (!run) return null;
  const self = { id: run.id, friendlyId: run.friendlyId, completedAt: run.completedAt };
  if (target === "self") return { run: self, target: self };
  const targetId = target === "parent" ? run.parentTaskRunId : (run.rootTaskRunId ?? run.id);
  if (!targetId) return { run: self, target: null };
  const other = await prisma.taskRun.findFirst({
    where: { id: targetId, runtimeEnvironmentId: authentication.environment.id },
    select: WRITE_SELECT,
  });
  return { run: self, target: other };
}

/**
 * A GET route that serves one stream of the run in its path as SSE, to anyone who may read the run
 * (the run feed's rule: the run, its task, tags or batch; 404 for another environment's run).
 */
export function streamReadRoute<TParams extends typeof StreamReadParams | typeof InputStreamParams>(
  name: string,
  params: TParams,
  keyOf: (streamId: string) => string,
) {
  return createApiRoute(
    {
      name,
      method: "GET",
      params,
      allowJWT: true,
      cors: true,
      findResource: ({ params, authentication, services }) =>
        services.feedLookups.findRun(authentication, params.runId),
      notFoundMessage: "Run not found",
      authorization: { action: "read", resources: runResources },
    },
    ({ request, resource, params, authentication, services, signal }) =>
      streamEventResponse({
        services,
        authentication,
        request,
        signal,
        ref: { runId: resource.id, key: keyOf(params.streamId) },
      }),
  );
}

/**
 * A reader's SSE response: one slot of the environment's realtime concurrency limit for as long as it
 * is open (429 when full), released when the body ends or the client goes away.
 */
export async function streamEventResponse(args: {
  services: Services;
  authentication: Authentication;
  request: Request;
  signal: AbortSignal;
  ref: StreamRef;
}): Promise<Response> {
  const { services, authentication, request, signal, ref } = args;
  const lastEventIdHeader = request.headers.get(LAST_EVENT_ID_HEADER);
  const resume = lastEventIdHeader ? parseLastEventId(lastEventIdHeader) : undefined;
  if (lastEventIdHeader && !resume)
    throw badRequest(`Invalid Last-Event-ID: expected an event id like 1700000000000-0, got "${lastEventIdHeader}"`);
  const timeoutHeader = request.headers.get(STREAM_TIMEOUT_SECONDS_HEADER);
  let inactivityTimeoutMs: number | undefined;
  if (timeoutHeader !== null) {
    const seconds = Number(timeoutHeader);
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > 600)
      throw badRequest(`Invalid Timeout-Seconds: expected a whole number from 1 to 600, got "${timeoutHeader}"`);
    inactivityTimeoutMs = seconds * 1000;
  }
  const startLatest = request.headers.get(STREAM_START_HEADER)?.trim().toLowerCase() === STREAM_START_LATEST;

  const { environment } = authentication;
  const limit = environment.realtimeConcurrencyLimit ?? services.env.REALTIME_DEFAULT_CONCURRENCY_LIMIT;
  const admission = await services.realtime.limiter.acquire(environment.id, limit);
  if (admission.kind === "rejected") return tooManyConcurrentRequests().toResponse();
  if (admission.kind === "unavailable") return limiterUnavailable().toResponse();
  services.metrics.streamReaders.inc();
  const { store, hub, runs } = services.streams;
  const source = streamEventSource(
    { store, hub, runs, prisma: services.prisma },
    { ref, resume, startLatest, inactivityTimeoutMs },
    signal,
    () => {
      services.metrics.streamReaders.dec();
      void admission.release();
    },
  );
  const response = new Response(streamEventBody(source), {
    headers: {
      "content-type": EVENT_STREAM_CONTENT_TYPE,
      "cache-control": "no-store",
      "x-accel-buffering": "no",
      [STREAM_VERSION_HEADER]: STREAM_PROTOCOL_VERSION,
    },
  });
  // The hot path writes the texts to the socket itself (server/app.ts); Remix's reads the web body.
  return withDirectBody(response, source);
}
