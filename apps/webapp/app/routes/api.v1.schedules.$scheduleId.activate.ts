/** POST /api/v1/schedules/:scheduleId/activate (`schedules.activate` of the SDK): scheduleActivationRoute.server.ts. */
import { scheduleActivationRoute } from "../services/scheduleActivationRoute.server";

const route = scheduleActivationRoute(true);

export const loader = route.loader;
export const action = route.action;
