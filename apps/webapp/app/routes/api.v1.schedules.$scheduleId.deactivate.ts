/** POST /api/v1/schedules/:scheduleId/deactivate (`schedules.deactivate` of the SDK): scheduleActivationRoute.server.ts. */
import { scheduleActivationRoute } from "../services/scheduleActivationRoute.server";

const route = scheduleActivationRoute(false);

export const loader = route.loader;
export const action = route.action;
