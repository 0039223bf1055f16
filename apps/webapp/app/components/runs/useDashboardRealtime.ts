/**
 * What the dashboard's live views hand to @runfeed/react-hooks: this origin as the API, the loader's
 * short-lived public token (kept for as long as the page shows the same environment and run, so a
 * revalidation does not restart the feed), and `onTokenRefused`, which asks the realtime-token resource
 * route for a fresh token; the feed then resumes from where it was.
 */
import type { ConnectionState } from "@runfeed/react-hooks";
import { useParams } from "@remix-run/react";
import { useCallback, useRef } from "react";

export function useDashboardRealtime(loaderToken: string, run?: string) {
  const { orgSlug = "", projectSlug = "", envSlug = "" } = useParams();
  const envPath = `orgs/${orgSlug}/projects/${projectSlug}/env/${envSlug}`;
  const scope = `${envPath}/${run ?? ""}`;
  const first = useRef<{ scope: string; token: string }>();
  if (!first.current || first.current.scope !== scope) first.current = { scope, token: loaderToken };
  const tokenUrl = `/resources/${envPath}/realtime-token${run ? `?run=${encodeURIComponent(run)}` : ""}`;
  const onTokenRefused = useCallback(() => fetchToken(tokenUrl), [tokenUrl]);
  return {
    // The hooks subscribe in the browser only; on the server nothing is requested.
    baseURL: typeof window === "undefined" ? undefined : window.location.origin,
    accessToken: first.current.token,
    onTokenRefused,
  };
}

async function fetchToken(url: string): Promise<string> {
  const response = await fetch(url, { headers: { accept: "application/json" } });
  const body = response.ok ? ((await response.json().catch(() => ({}))) as { token?: unknown }) : {};
  if (typeof body.token !== "string") throw new Error(`Could not renew the realtime token (${response.status}).`);
  return body.token;
}

/** A feed's connection state as the live indicator shows it. */
export function liveIndicatorState(connection: ConnectionState): "connecting" | "live" | "reconnecting" | "off" {
  switch (connection) {
    case "connecting":
    case "live":
    case "reconnecting":
      return connection;
    case "refused":
      return "reconnecting";
    default:
      return "off";
  }
}
