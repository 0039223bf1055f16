import type { LoaderFunctionArgs } from "@remix-run/node";

export async function loader({ context }: LoaderFunctionArgs) {
  const { registry } = context.services.metrics;
  return new Response(await registry.metrics(), { headers: { "content-type": registry.contentType } });
}
