import type { LoaderFunctionArgs } from "@remix-run/node";

/** Liveness and readiness: Postgres and Redis reachable. 200 when both answer, else 503 naming the failure. */
export async function loader({ context }: LoaderFunctionArgs) {
  const { prisma, redis } = context.services;
  const checks = await Promise.allSettled([prisma.$queryRaw`SELECT 1`, redis.ping()]);
  const [database, cache] = checks.map((c) =>
    c.status === "fulfilled" ? "ok" : `error: ${(c.reason as Error).message}`,
  );
  const ok = database === "ok" && cache === "ok";
  return Response.json(
    { status: ok ? "ok" : "degraded", database, redis: cache },
    { status: ok ? 200 : 503, headers: { "cache-control": "no-store" } },
  );
}
