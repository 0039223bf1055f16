import type { LoaderFunctionArgs } from "@remix-run/node";
import { notFound } from "../services/httpErrors.server";

/** Prometheus exposition; `?name=<metric>` answers that one metric only (cheap enough to poll). */
export async function loader({ context, request }: LoaderFunctionArgs) {
  const { registry } = context.services.metrics;
  const name = new URL(request.url).searchParams.get("name");
  const headers = { "content-type": registry.contentType };
  if (name === null) return new Response(await registry.metrics(), { headers });
  if (!registry.getSingleMetric(name)) return notFound(`No metric named ${name}`).toResponse();
  return new Response(await registry.getSingleMetricAsString(name), { headers });
}
