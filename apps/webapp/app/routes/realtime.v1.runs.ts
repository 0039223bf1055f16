/**
 * GET /realtime/v1/runs?tags=a,b&createdAt=1h — runs carrying all the tags, created after a floor
 * fixed for the life of the shape handle (checklist #1, #26, #33). No tags: the whole environment.
 */
import { z } from "zod";
import { createApiRoute } from "../services/apiRoute.server";
import { proxyRealtimeFeed } from "../services/realtime/shapeProxy.server";
import { parseTags } from "../services/realtime/shapeRewrite.server";

const SearchParams = z
  .object({
    tags: z
      .string()
      .optional()
      .transform((raw, ctx) => {
        const parsed = parseTags(raw);
        if ("error" in parsed) {
          ctx.addIssue({ code: "custom", message: parsed.error });
          return z.NEVER;
        }
        return parsed.tags;
      }),
    createdAt: z.string().optional(),
  })
  .passthrough();

const route = createApiRoute(
  {
    name: "realtime.v1.runs",
    method: "GET",
    searchParams: SearchParams,
    allowJWT: true,
    cors: true,
    authorization: {
      action: "read",
      resources: (_resource, _params, searchParams) => [
        { type: "runs" },
        { type: "tags" },
        ...searchParams.tags.map((tag) => ({ type: "tags", id: tag })),
      ],
    },
  },
  (context) =>
    proxyRealtimeFeed({
      ...context,
      createdAt: context.searchParams.createdAt,
      feed: { kind: "tags", tags: context.searchParams.tags },
    }),
);

export const loader = route.loader;
export const action = route.action;
