/**
 * Live runs for the dashboard through the public realtime path: a short-lived public token from
 * the session, `/realtime/v1/runs` (whole environment or tags) and `/realtime/v1/runs/:id`, spoken
 * with the official `@electric-sql/client`. Rows are merged in place (updates may carry only the
 * changed columns) and published once per `up-to-date`, i.e. once per committed batch.
 */
import {
  FetchError,
  ShapeStream,
  isChangeMessage,
  isControlMessage,
  type Message,
  type Row,
} from "@electric-sql/client";
import { MUST_REFETCH, UP_TO_DATE } from "@runfeed/core";
import { useEffect, useMemo, useRef, useState } from "react";
import { runFromShapeRow, type RunListItem } from "./runRow";

export type LiveState = "connecting" | "live" | "reconnecting" | "off";

export interface LiveFeedOptions {
  /** `/realtime/v1/runs` or `/realtime/v1/runs/<friendlyId>`. */
  path: string;
  params?: Record<string, string>;
  token: string;
  /** Fetches a fresh token when the current one is refused (expired or rolled key). */
  refreshToken?: () => Promise<string>;
  enabled?: boolean;
}

/** A raw-row feed; `useLiveRuns` and `useLiveRun` build on it. */
export function useShapeRows(options: LiveFeedOptions): {
  rows: Map<string, Row> | null;
  state: LiveState;
  error?: string;
} {
  const { path, params, enabled = true } = options;
  // The token in use: the loader's, or a refreshed one. A re-render must not put back a refused
  // loader token, so only a *new* loader token replaces it.
  const tokenRef = useRef(options.token);
  const loaderToken = useRef(options.token);
  if (loaderToken.current !== options.token) {
    loaderToken.current = options.token;
    tokenRef.current = options.token;
  }
  const refreshRef = useRef(options.refreshToken);
  refreshRef.current = options.refreshToken;
  const [rows, setRows] = useState<Map<string, Row> | null>(null);
  const [state, setState] = useState<LiveState>(enabled ? "connecting" : "off");
  const [error, setError] = useState<string>();
  const paramsKey = JSON.stringify(params ?? {});

  useEffect(() => {
    if (!enabled) {
      setState("off");
      setRows(null);
      return;
    }
    setState("connecting");
    setRows(null);
    const controller = new AbortController();
    const current = new Map<string, Row>();
    const stream = new ShapeStream({
      url: new URL(path, window.location.origin).toString(),
      params: JSON.parse(paramsKey) as Record<string, string> as never,
      // biome-ignore lint/correctness/noComponentHookFactories: an HTTP header name, not a component
      headers: { Authorization: () => `Bearer ${tokenRef.current}` },
      signal: controller.signal,
      // One held event stream per feed instead of a long-poll per change; the client falls back to
      // long-polling by itself when streams are cut short (docs/decisions/090-realtime-sse-and-cheap-repoll.md).
      liveSse: true,
      // A page holds one or two feeds, far from the six connections per origin that HTTP/1.1 allows
      // and this console warning is about.
      warnOnHttp: false,
      onError: async (cause) => {
        if (controller.signal.aborted) return;
        setState("reconnecting");
        setError(cause.message);
        if (cause instanceof FetchError && cause.status === 401 && refreshRef.current) {
          tokenRef.current = await refreshRef.current().catch(() => tokenRef.current);
        } else {
          await new Promise((resolve) => setTimeout(resolve, 1000));
        }
        return {};
      },
    });
    const unsubscribe = stream.subscribe((messages: Message<Row>[]) => {
      let upToDate = false;
      for (const message of messages) {
        if (isChangeMessage(message)) {
          const operation = message.headers.operation;
          if (operation === "delete") current.delete(message.key);
          else
            current.set(
              message.key,
              operation === "update" ? { ...current.get(message.key), ...message.value } : message.value,
            );
        } else if (isControlMessage(message)) {
          if (message.headers.control === MUST_REFETCH) current.clear();
          if (message.headers.control === UP_TO_DATE) upToDate = true;
        }
      }
      if (upToDate) {
        setRows(new Map(current));
        setState("live");
        setError(undefined);
      }
    });
    return () => {
      unsubscribe();
      controller.abort();
    };
  }, [path, paramsKey, enabled]);

  return { rows, state, error };
}

/** All runs of the environment (or of the tags) created after `createdAt`, as dashboard rows by id. */
export function useLiveRuns(options: Omit<LiveFeedOptions, "path" | "params"> & { tag?: string; createdAt: string }) {
  const params: Record<string, string> = { createdAt: options.createdAt };
  if (options.tag) params.tags = options.tag;
  const feed = useShapeRows({ ...options, path: "/realtime/v1/runs", params });
  const cache = useRef(new Map<Row, RunListItem>());
  const runs = useMemo(() => {
    if (!feed.rows) return null;
    // Convert each raw row once; unchanged rows keep their object (and their memoised table row).
    const next = new Map<Row, RunListItem>();
    const byId = new Map<string, RunListItem>();
    for (const raw of feed.rows.values()) {
      const run = cache.current.get(raw) ?? runFromShapeRow(raw);
      next.set(raw, run);
      byId.set(run.id, run);
    }
    cache.current = next;
    return byId;
  }, [feed.rows]);
  return { runs, state: feed.state, error: feed.error };
}

/** One run, live. */
export function useLiveRun(options: Omit<LiveFeedOptions, "path" | "params"> & { friendlyId: string }) {
  const feed = useShapeRows({ ...options, path: `/realtime/v1/runs/${options.friendlyId}` });
  const raw = feed.rows ? [...feed.rows.values()][0] : undefined;
  return { raw, run: raw ? runFromShapeRow(raw) : undefined, state: feed.state, error: feed.error };
}
