import type { LoaderFunctionArgs } from "@remix-run/node";

/** Prometheus exposition; `?name=<metric>` answers that one metric only (cheap enough to poll). */
export async function loader({ context, request }: LoaderFunctionArgs) {
  const { registry } = context.services.metrics;
  const name = new URL(request.url).searchParams.get("name");
  const headers = { "content-type": registry.contentType };
  if (name === null) return new Response(await registry.metrics(), { headers });
  if (!registry.getSingleMetric(name)) return Response.json({ error: `No metric named ${name}` }, { status: 404 });
  return new Response(await registry.getSingleMetricAsString(name), { headers });
}
