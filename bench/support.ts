/**
 * What the benchmarks that drive the webapp over HTTP share: a load client on node:http with a
 * keep-alive agent, and a wait for a condition.
 */
import http from "node:http";

export interface Answer {
  status: number;
  text: string;
}

/**
 * Requests to `base` on a keep-alive agent of `sockets` sockets (one a client). The load generator
 * shares the machine with the webapp, and undici's fetch costs it ~2 ms CPU a request here,
 * http.request far less. `headers` go with every request; `send`'s own are added to them.
 */
export function keepAliveClient(base: string, headers: Record<string, string>, sockets: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  const send = (method: string, path: string, body?: string, extra: Record<string, string> = {}) =>
    new Promise<Answer>((resolve, reject) => {
      const length = body === undefined ? {} : { "content-length": String(Buffer.byteLength(body)) };
      const req = http.request(
        `${base}${path}`,
        { method, agent, headers: { ...headers, ...extra, ...length } },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => (text += chunk));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  return { agent, send };
}

/** Resolves once `check` holds (a throw counts as not yet), polling every `intervalMs`; throws after `timeoutMs`. */
export async function until(check: () => Promise<boolean>, timeoutMs: number, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
