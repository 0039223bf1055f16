/**
 * HOT_ROUTES (server/app.ts) against Remix's own route table (flatRoutes over app/routes, as the
 * Vite plugin builds it): every hot route is a route Remix serves at the same path, and every
 * route's path is served by itself, never shadowed by another route's hot pattern.
 */
import { fileURLToPath } from "node:url";
import { flatRoutes } from "@remix-run/dev/dist/config/flat-routes.js";
import { describe, expect, it } from "vitest";
import { HOT_ROUTES, type HotRoute } from "../server/hotRoutes.js";

const APP_DIR = fileURLToPath(new URL("../app", import.meta.url));
const manifest = flatRoutes(APP_DIR);

/** A route's full path (its ancestors' paths joined), e.g. `/api/v1/runs/:runId/metadata`. */
function fullPath(id: string): string | undefined {
  const parts: string[] = [];
  for (let route = manifest[id]; route; route = route.parentId ? manifest[route.parentId] : undefined) {
    if (route.path) parts.unshift(route.path);
  }
  return parts.length ? `/${parts.join("/")}` : undefined;
}

/** A concrete URL path of a route: each `:param` filled with a sample value (one it takes, if restricted). */
const sampleValue = (name: string, hot?: HotRoute) => hot?.values?.[name]?.[0] ?? `sample-${name}`;
const samplePath = (path: string, hot?: HotRoute) => path.replace(/:(\w+)/g, (_, name) => sampleValue(name, hot));

describe("HOT_ROUTES", () => {
  it("reads Remix's route table", () => expect(Object.keys(manifest).length).toBeGreaterThan(20));

  it.each(HOT_ROUTES.map((route) => [route.id, route] as const))("%s is a Remix route at the same path", (id, hot) => {
    const path = fullPath(id);
    expect(path, `${id} is not in app/routes`).toBeDefined();
    const m = hot.pattern.exec(samplePath(path!, hot));
    expect(m, `${hot.pattern} does not match ${path}`).not.toBeNull();
    const params = Object.fromEntries(hot.param.map((name, i) => [name, m![i + 1]]));
    const expected = Object.fromEntries(
      [...path!.matchAll(/:(\w+)/g)].map(([, name]) => [name, sampleValue(name!, hot)]),
    );
    expect(params).toEqual(expected);
    // matchHotRoute tells realtime routes apart by their prefix.
    expect(hot.realtime ?? false).toBe(path!.startsWith("/realtime/v1/"));
  });

  it("never takes another route's path: the first hot pattern matching a route's path is that route's", () => {
    const shadowed: string[] = [];
    for (const id of Object.keys(manifest)) {
      const path = fullPath(id);
      if (!path) continue;
      const own = HOT_ROUTES.find((hot) => hot.id === id);
      // Hot routes answering other methods (a streamed-body PUT/POST beside a GET reader) never meet.
      const first = HOT_ROUTES.find(
        (hot) =>
          (hot.streamedBody ?? false) === (own?.streamedBody ?? false) && hot.pattern.test(samplePath(path, own)),
      );
      if (first && first.id !== id) shadowed.push(`${path} (${id}) → ${first.id}`);
    }
    expect(shadowed).toEqual([]);
  });
});
