/**
 * A fresh short-lived realtime token for the dashboard's live views (the browser asks when the
 * current one is refused). `?run=<friendlyId>` narrows it to one run.
 */
import type { LoaderFunctionArgs } from "@remix-run/node";
import { dashboardRealtimeToken, requireEnvironment } from "../services/dashboard.server";
import { requireUser } from "../services/session.server";

export async function loader({ request, params, context }: LoaderFunctionArgs) {
  const user = await requireUser(context, request);
  const environment = await requireEnvironment(context.services, user.id, params);
  const run = new URL(request.url).searchParams.get("run") ?? undefined;
  const token = await dashboardRealtimeToken(environment, run);
  return Response.json({ token }, { headers: { "cache-control": "no-store" } });
}
