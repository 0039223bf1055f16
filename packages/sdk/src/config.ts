/**
 * Client configuration: `configure()` sets process- (or page-) wide defaults, and every call can
 * override them with `{ baseURL, accessToken, signal }`. The SDK never reads process.env.
 */
import { ConfigurationError } from "./errors.js";
import type { FetchFn, RetryOptions } from "./fetch.js";

export interface ClientConfig {
  /** The runfeed server, e.g. "https://runfeed.example.com" (a path prefix is allowed). */
  baseURL?: string;
  /** A secret key (server side) or a public token (browser). */
  accessToken?: string;
  /** The fetch to use; defaults to the global fetch. */
  fetch?: FetchFn;
  /** Retry policy for REST calls. */
  retry?: Partial<RetryOptions>;
}

/** What every call accepts in addition to its own options. */
export interface RequestOptions {
  baseURL?: string;
  accessToken?: string;
  signal?: AbortSignal;
}

export interface ResolvedConfig {
  baseURL: string;
  accessToken: string;
  fetch: FetchFn;
  retry: Partial<RetryOptions>;
  signal?: AbortSignal;
}

let globalConfig: ClientConfig = {};

/** Sets the defaults for every later call. Merges with the previous configuration. */
export function configure(config: ClientConfig): void {
  globalConfig = { ...globalConfig, ...config };
}

/** The current defaults (a copy). */
export function getConfig(): ClientConfig {
  return { ...globalConfig };
}

export function resolveConfig(options: RequestOptions = {}): ResolvedConfig {
  const baseURL = options.baseURL ?? globalConfig.baseURL;
  const accessToken = options.accessToken ?? globalConfig.accessToken;
  if (!baseURL) {
    throw new ConfigurationError(
      'No baseURL: call configure({ baseURL: "https://your-runfeed-server" }) or pass { baseURL } to this call.',
    );
  }
  if (!accessToken) {
    throw new ConfigurationError(
      "No accessToken: call configure({ accessToken }) with a secret key (server) or a public token (browser), or pass { accessToken } to this call.",
    );
  }
  const fetchFn = globalConfig.fetch ?? globalThis.fetch?.bind(globalThis);
  if (!fetchFn)
    throw new ConfigurationError("No fetch available: pass configure({ fetch }) on runtimes without a global fetch.");
  return {
    baseURL: baseURL.replace(/\/$/, ""),
    accessToken,
    fetch: fetchFn,
    retry: globalConfig.retry ?? {},
    signal: options.signal,
  };
}

/** `{base}{path}` with one trailing slash of base stripped (contract §1.2). */
export function apiUrl(
  config: Pick<ResolvedConfig, "baseURL">,
  path: string,
  params?: Record<string, string | undefined>,
): string {
  const url = new URL(`${config.baseURL}${path}`);
  for (const [key, value] of Object.entries(params ?? {})) if (value !== undefined) url.searchParams.set(key, value);
  return url.href;
}
