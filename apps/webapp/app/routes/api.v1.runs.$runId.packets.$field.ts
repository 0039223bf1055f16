/**
 * GET /api/v1/runs/:runId/packets/:field — not implemented: payloads and outputs are stored inline,
 * so this is a 404 JSON and the 4.8.3 SDK falls back (realtime-contract §6.8, checklist #22).
 */
import { z } from "zod";
import { createApiRoute } from "../services/apiRoute.server";
import { notFound } from "../services/httpErrors.server";

const route = createApiRoute(
  {
    name: "api.v1.runs.packets",
    method: "GET",
    params: z.object({ runId: z.string(), field: z.string() }),
    allowJWT: true,
    cors: true,
  },
  async () => {
    throw notFound("Packet not found");
  },
);

export const loader = route.loader;
export const action = route.action;
