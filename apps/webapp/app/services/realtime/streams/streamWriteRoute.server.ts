/**
 * The config every stream write route shares (the run in the URL, `write:streams:<runId>` on it) and
 * the checks before a write: the target run exists and has not finished; the stream is listed.
 */
import { STREAM_WRITE_SCOPE_TYPE } from "@runfeed/core";
import { notFound } from "../../httpErrors.server";
import type { Services } from "../../services.server";
import type { ApiRouteConfig } from "../../apiRoute.server";
import { runFinished } from "./streamIngest.server";
import { findStreamWriteTarget, StreamWriteParams, type StreamWriteTarget } from "./streamRequests.server";
import type { StreamRef } from "./streamStore.server";

export function writeRoute(
  name: string,
  method: "PUT" | "POST" | "GET",
): ApiRouteConfig<typeof StreamWriteParams, undefined, undefined, StreamWriteTarget> {
  return {
    name,
    method,
    params: StreamWriteParams,
    allowJWT: true,
    findResource: ({ params, authentication, services }) =>
      findStreamWriteTarget(services.prisma, authentication, params.runId, params.target),
    notFoundMessage: "Run not found",
    authorization: {
      action: "write",
      resources: (resource) => [{ type: STREAM_WRITE_SCOPE_TYPE, id: resource.run.friendlyId }],
    },
  };
}

/** The stream a write goes to, listed on its run; 404 without a target, 400 once the run finished. */
export async function writableStream(services: Services, resource: StreamWriteTarget, key: string): Promise<StreamRef> {
  const target = resource.target;
  if (!target) throw notFound("Target not found: the run has no such parent");
  if (target.completedAt) throw runFinished();
  const ref = { runId: target.id, key };
  await services.streams.ensureListed(ref);
  return ref;
}
