/** redis-server for the start command and the tests (redis.ts): a port someone else holds is not mistaken for ours. */
import { createConnection, createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { startRedisServer } from "../src/redis.js";

describe("startRedisServer", () => {
  it("takes another free port when its port is taken before redis-server binds it", { timeout: 30_000 }, async () => {
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(0, "127.0.0.1", resolve));
    const taken = (squatter.address() as { port: number }).port;
    const said: string[] = [];
    const redis = await startRedisServer({ port: taken, log: (line) => said.push(line) });
    try {
      expect(redis.url).not.toBe(`redis://127.0.0.1:${taken}`);
      expect(said).toEqual([
        `port ${taken} was taken before redis-server could bind it; trying ${new URL(redis.url).port}`,
      ]);
      expect(await ping(Number(new URL(redis.url).port))).toBe("+PONG");
    } finally {
      await redis.stop();
      squatter.close();
    }
  });
});

/** A Redis PING over a bare socket: the first line of the answer. */
function ping(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ port, host: "127.0.0.1" }, () => socket.write("PING\r\n"));
    socket.once("data", (data) => {
      resolve(data.toString().split("\r\n")[0]!);
      socket.end();
    });
    socket.once("error", reject);
  });
}
