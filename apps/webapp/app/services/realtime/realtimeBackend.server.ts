/**
 * The seam between the realtime feed routes and their backends (docs/decisions/073-realtime-notifier-backend.md):
 * a feed request, admitted by the route, is answered by the shape server (`electric`), natively
 * (`native`), or by the shape server with the native answer computed beside it on a sample (`shadow`),
 * as REALTIME_BACKEND or the organisation's override says. A run's log feed is served natively on
 * `native`, and by the shape server otherwise (shadow compares the run feeds only).
 */
import type { FeedReply } from "./feedReply.server";
import { serveNativeFeed } from "./native/nativeFeed.server";
import { serveNativeLogFeed } from "./native/nativeLogFeed.server";
import { serveShadowFeed } from "./native/shadowFeed.server";
import { type ProxyFeedArgs, proxyRealtimeFeed } from "./shapeProxy.server";

export interface RealtimeBackend {
  serve(args: ProxyFeedArgs): Promise<FeedReply>;
}

export async function serveRealtimeFeed(args: ProxyFeedArgs): Promise<FeedReply> {
  const { feed } = args;
  const backend = await args.services.realtime.backends.forOrganization(
    args.authentication.environment.project.organizationId,
  );
  if (feed.kind === "logs")
    return backend === "native" ? serveNativeLogFeed({ ...args, feed }) : proxyRealtimeFeed(args);
  switch (backend) {
    case "electric":
      return proxyRealtimeFeed(args);
    case "native":
      return serveNativeFeed({ ...args, feed });
    case "shadow":
      return serveShadowFeed({ ...args, feed });
  }
}
