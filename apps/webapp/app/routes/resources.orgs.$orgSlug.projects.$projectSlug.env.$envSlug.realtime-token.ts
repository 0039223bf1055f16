/**
 * A fresh short-lived realtime token for the dashboard's live views (their `onTokenRefused` asks when
 * the current one is refused). `?run=<friendlyId>` narrows it to one run.
 */
import type { LoaderFunctionArgs } from "@remix-run/node";
import { z } from "zod";
import { invalidInput } from "../services/apiRoute.server";
import { dashboardRealtimeToken, requireEnvironment } from "../services/dashboard.server";
import { requireUser } from "../services/session.server";

const Query = z.object({
  run: z
    .string()
    .regex(/^run_[A-Za-z0-9]+$/, "a run's friendly id (run_…)")
    .optional(),
});

export async function loader({ request, params, context }: LoaderFunctionArgs) {
  const user = await requireUser(context, request);
  const environment = await requireEnvironment(context.services, user.id, params);
  const query = Query.safeParse(Object.fromEntries(new URL(request.url).searchParams));
  if (!query.success) {
    const { status, body } = invalidInput("Invalid query", query.error);
    return Response.json(body, { status, headers: { "cache-control": "no-store" } });
  }
  const token = await dashboardRealtimeToken(context.services, environment, query.data.run);
  return Response.json({ token }, { headers: { "cache-control": "no-store" } });
}
