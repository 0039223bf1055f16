/**
 * Input streams: data sent into a running task.
 * - POST `{"data": …}` appends it (a token with `write:inputStreams:<runId>`, as trigger responses
 *   carry, or a secret key); 400 once the run finished.
 * - GET is the same data as server-sent events, for the task's own tail (the run's token reads it).
 */
import { INPUT_STREAM_SCOPE_TYPE } from "@runfeed/core";
import { z } from "zod";
import { createApiRoute } from "../services/apiRoute.server";
import { capReached } from "../services/realtime/streams/streamIngest.server";
import {
  InputStreamParams,
  findStreamWriteTarget,
  inputStreamKey,
  streamReadRoute,
} from "../services/realtime/streams/streamRequests.server";

const SendBody = z.object({ data: z.unknown() });

const send = createApiRoute(
  {
    name: "realtime.v1.streams.input.send",
    method: "POST",
    params: InputStreamParams,
    body: SendBody,
    maxContentLength: 1024 * 1024,
    allowJWT: true,
    cors: true,
    findResource: ({ params, authentication, services }) =>
      findStreamWriteTarget(services.prisma, authentication, params.runId, "self"),
    notFoundMessage: "Run not found",
    authorization: {
      action: "write",
      resources: (resource) => [{ type: INPUT_STREAM_SCOPE_TYPE, id: resource.run.friendlyId }],
    },
  },
  async ({ body, resource, params, services }) => {
    const { streams, metrics } = services;
    if (resource.run.completedAt)
      return Response.json({ ok: false, error: "Cannot send to an input stream of a finished run" }, { status: 400 });
    const ref = { runId: resource.run.id, key: inputStreamKey(params.streamId) };
    await streams.ensureListed(ref, { onRun: false });
    const outcome = await streams.store.append(ref, [JSON.stringify(body.data ?? null)], streams.limits);
    metrics.streamChunksWritten.inc(outcome.written);
    if (outcome.kind === "finished")
      return Response.json({ ok: false, error: "Cannot send to an input stream of a finished run" }, { status: 400 });
    if (outcome.kind === "too-large") {
      const error = capReached(outcome.cap, streams.limits);
      return Response.json({ ok: false, ...error.body }, { status: 413 });
    }
    return Response.json({ ok: true });
  },
);

const read = streamReadRoute("realtime.v1.streams.input.read", InputStreamParams, inputStreamKey);

export const loader = read.loader;
export const action = send.action;
