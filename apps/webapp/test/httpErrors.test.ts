import net from "node:net";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { dependencyUnavailable } from "../app/services/httpErrors.server";

/** A port on this machine that nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("dependencyUnavailable", () => {
  it("answers 503 with retry-after for a Postgres connection that cannot be opened", async () => {
    const client = new pg.Client({ connectionString: `postgres://runfeed@127.0.0.1:${await closedPort()}/runfeed` });
    const error = await client.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    const answer = dependencyUnavailable(error);
    expect(answer?.status).toBe(503);
    const response = answer!.toResponse();
    expect(response.headers.get("retry-after")).toBe("1");
    expect(await response.json()).toEqual({ error: "Service temporarily unavailable" });
  });

  it("reads Postgres's SQLSTATE through Prisma's driver-adapter wrapping (too many connections, shutting down)", () => {
    for (const originalCode of ["53300", "57P01", "08006"]) {
      const wrapped = { meta: { driverAdapterError: { cause: { originalCode, originalMessage: "…" } } } };
      expect(dependencyUnavailable(wrapped)?.status).toBe(503);
    }
  });

  it("leaves every other error alone (a constraint, a data exception, a bug)", () => {
    expect(dependencyUnavailable({ code: "23505" })).toBeUndefined();
    expect(dependencyUnavailable({ code: "22P02" })).toBeUndefined();
    expect(dependencyUnavailable(new TypeError("x is undefined"))).toBeUndefined();
    expect(dependencyUnavailable(undefined)).toBeUndefined();
  });
});
