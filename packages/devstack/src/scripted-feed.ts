/**
 * A real HTTP server that speaks just enough of the Electric shape protocol (electric-protocol.md §2–§5)
 * for lifecycle tests of the SDK's subscriptions: the test pushes row changes, the server answers the
 * pending live request with them. It records every request and whether the client aborted it.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  ELECTRIC_CURSOR_HEADER,
  ELECTRIC_HANDLE_HEADER,
  ELECTRIC_OFFSET_HEADER,
  ELECTRIC_SCHEMA_HEADER,
  ELECTRIC_UP_TO_DATE_HEADER,
  LIVE_PARAM,
  OFFSET_PARAM,
  UP_TO_DATE,
} from "@runfeed/core";

export interface RecordedRequest {
  url: URL;
  authorization: string | undefined;
  live: boolean;
  aborted: boolean;
}

export interface ScriptedFeed {
  baseURL: string;
  requests: RecordedRequest[];
  /** Rows served on the first request (offset=-1). */
  snapshot: Array<Record<string, string | null>>;
  /** Answers the next (or pending) live request with these rows as updates. */
  push(rows: Array<Record<string, string | null>>): void;
  /** Makes the next request fail with this status and JSON body. */
  failNext(status: number, body?: unknown, times?: number): void;
  /** Omits the electric headers on the next response. */
  dropHeadersNext(): void;
  pendingLive(): number;
  close(): Promise<void>;
}

const SCHEMA = JSON.stringify({
  id: { type: "text" },
  isTest: { type: "bool" },
  number: { type: "int4" },
  usageDurationMs: { type: "int4" },
  costInCents: { type: "float8" },
  baseCostInCents: { type: "float8" },
  runTags: { type: "text", dims: 1 },
  error: { type: "jsonb" },
  realtimeStreams: { type: "text", dims: 1 },
});

export async function startScriptedFeed(): Promise<ScriptedFeed> {
  let offset = 0;
  const queued: Array<Array<Record<string, string | null>>> = [];
  const failures: Array<{ status: number; body: unknown }> = [];
  let dropHeaders = false;
  const waiting = new Set<(rows: Array<Record<string, string | null>>) => void>();
  const requests: RecordedRequest[] = [];

  const changes = (rows: Array<Record<string, string | null>>, operation: string) =>
    rows.map((value) => ({ key: `"public"."TaskRun"/"${value.id}"`, value, headers: { operation } }));

  const send = (res: ServerResponse, body: unknown[], live: boolean) => {
    offset++;
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "cache-control": "no-store",
      "access-control-allow-origin": "*",
      "access-control-expose-headers": "*",
    };
    if (!dropHeaders) {
      headers[ELECTRIC_HANDLE_HEADER] = "handle-1";
      headers[ELECTRIC_OFFSET_HEADER] = `${offset}_0`;
      headers[ELECTRIC_UP_TO_DATE_HEADER] = "";
      if (live) headers[ELECTRIC_CURSOR_HEADER] = String(offset);
      else headers[ELECTRIC_SCHEMA_HEADER] = SCHEMA;
    }
    dropHeaders = false;
    res.writeHead(200, headers).end(JSON.stringify([...body, { headers: { control: UP_TO_DATE } }]));
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url!, "http://feed");
    const live = url.searchParams.get(LIVE_PARAM) === "true";
    const record: RecordedRequest = { url, authorization: req.headers.authorization, live, aborted: false };
    requests.push(record);
    res.on("close", () => {
      if (!res.writableFinished) record.aborted = true;
    });
    const failure = failures.shift();
    if (failure) {
      res
        .writeHead(failure.status, { "content-type": "application/json" })
        .end(JSON.stringify(failure.body ?? { error: `status ${failure.status}` }));
      return;
    }
    if (url.searchParams.get(OFFSET_PARAM) === "-1" || !live) {
      send(res, changes(feed.snapshot, "insert"), false);
      return;
    }
    const next = queued.shift();
    if (next) return send(res, changes(next, "update"), true);
    const answer = (rows: Array<Record<string, string | null>>) => {
      waiting.delete(answer);
      send(res, changes(rows, "update"), true);
    };
    waiting.add(answer);
    res.on("close", () => waiting.delete(answer));
  };

  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const feed: ScriptedFeed = {
    baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    snapshot: [],
    push(rows) {
      const [first] = waiting;
      if (first) first(rows);
      else queued.push(rows);
    },
    failNext(status, body, times = 1) {
      for (let i = 0; i < times; i++) failures.push({ status, body });
    },
    dropHeadersNext() {
      dropHeaders = true;
    },
    pendingLive: () => waiting.size,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return feed;
}

/** A full wire row (contract §5.1) with the given overrides. */
export function wireRun(overrides: Record<string, string | null> = {}): Record<string, string | null> {
  return {
    id: "internal1",
    friendlyId: "run_1",
    taskIdentifier: "my-task",
    status: "PENDING",
    createdAt: "2026-06-06T10:00:00.000",
    updatedAt: "2026-06-06T10:00:00.000",
    startedAt: null,
    delayUntil: null,
    queuedAt: null,
    expiredAt: null,
    completedAt: null,
    number: "1",
    isTest: "f",
    usageDurationMs: "0",
    costInCents: "0",
    baseCostInCents: "0",
    ttl: null,
    payload: '{"n":1}',
    payloadType: "application/json",
    metadata: null,
    metadataType: "application/json",
    output: null,
    outputType: "application/json",
    runTags: "{}",
    error: null,
    realtimeStreams: "{}",
    ...overrides,
  };
}
