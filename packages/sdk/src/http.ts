/** REST calls: one place that builds headers, stacks the fetch decorators and parses JSON. */
import { apiUrl, resolveConfig, type RequestOptions, type ResolvedConfig } from "./config.js";
import { createFetchWithErrors, createFetchWithRetry } from "./fetch.js";
import {
  API_VERSION_HEADER,
  AUTHORIZATION_HEADER,
  bearer,
  randomString,
  REQUEST_IDEMPOTENCY_KEY_HEADER,
  TRIGGER_API_VERSION,
  TRIGGER_CLIENT_HEADER,
  TRIGGER_SOURCE_HEADER,
} from "@runfeed/core";

export interface ApiRequest {
  method: "GET" | "POST" | "PUT";
  path: string;
  /** JSON-serialised unless it is already a string. */
  body?: unknown;
  contentType?: string;
  headers?: Record<string, string>;
}

export interface ApiResponse<T> {
  data: T;
  headers: Headers;
}

const isBrowser = () => typeof (globalThis as { document?: unknown }).document !== "undefined";

export function requestHeaders(config: Pick<ResolvedConfig, "accessToken">): Record<string, string> {
  return {
    [AUTHORIZATION_HEADER]: bearer(config.accessToken),
    [API_VERSION_HEADER]: TRIGGER_API_VERSION,
    [TRIGGER_SOURCE_HEADER]: "sdk",
    ...(isBrowser() ? { [TRIGGER_CLIENT_HEADER]: "browser" } : {}),
  };
}

export function randomId(): string {
  return globalThis.crypto?.randomUUID?.() ?? randomString(32);
}

export async function apiRequest<T>(request: ApiRequest, options: RequestOptions = {}): Promise<ApiResponse<T>> {
  const config = resolveConfig(options);
  const fetchFn = createFetchWithErrors(createFetchWithRetry(config.fetch, config.retry));
  const headers: Record<string, string> = {
    ...requestHeaders(config),
    // One key for the request and all its retries, so the server can answer a retry from cache (§6).
    [REQUEST_IDEMPOTENCY_KEY_HEADER]: randomId(),
    ...request.headers,
  };
  let body: string | undefined;
  if (request.body !== undefined) {
    body = typeof request.body === "string" ? request.body : JSON.stringify(request.body);
    headers["content-type"] = request.contentType ?? "application/json";
  }
  const response = await fetchFn(apiUrl(config, request.path), {
    method: request.method,
    headers,
    body,
    signal: config.signal,
  });
  const text = await response.text();
  return { data: (text ? JSON.parse(text) : undefined) as T, headers: response.headers };
}
