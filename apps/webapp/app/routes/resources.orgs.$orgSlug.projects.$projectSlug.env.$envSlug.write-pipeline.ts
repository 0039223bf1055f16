/**
 * The write pipeline's live state for the dashboard panel (components/WritePipelinePanel.tsx): queue
 * depth and oldest-entry age per stream, accepted/applied per second, coalescing, apply time.
 * Signed-in users of the environment's organization only.
 */
import type { LoaderFunctionArgs } from "@remix-run/node";
import { requireEnvironment } from "../services/dashboard.server";
import { errorBody } from "../services/httpErrors.server";
import { requireUser } from "../services/session.server";
import { pipelineSnapshot } from "../services/writePipeline/pipelineSnapshot.server";

export async function loader({ request, params, context }: LoaderFunctionArgs) {
  const user = await requireUser(context, request);
  await requireEnvironment(context.services, user.id, params);
  try {
    return Response.json(await pipelineSnapshot(context.services), { headers: { "cache-control": "no-store" } });
  } catch (error) {
    context.services.logger.warn({ err: (error as Error).message }, "write pipeline snapshot failed");
    return Response.json(errorBody("The write pipeline's state could not be read from Redis"), {
      status: 503,
      headers: { "cache-control": "no-store" },
    });
  }
}
