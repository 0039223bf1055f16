/**
 * POST /api/v1/schedules/:scheduleId/deactivate (`schedules.deactivate` of the SDK): Deactivates a schedule
 * (its pending timer removed; no run is triggered until it is activated again), answered with the schedule. Secret keys only.
 */
import { ScheduleIdParams } from "@runfeed/core";
import { createApiRoute } from "../services/apiRoute.server";
import { findSchedule, presentSchedule, setScheduleActive } from "../engine/schedules.server";

const route = createApiRoute(
  {
    name: "api.v1.schedules.deactivate",
    method: "POST",
    params: ScheduleIdParams,
    findResource: ({ params, authentication, services }) =>
      findSchedule(services.prisma, authentication.environment.id, params.scheduleId),
    notFoundMessage: "Schedule not found",
  },
  async ({ resource, authentication, services }) => {
    const schedule = await setScheduleActive(services.prisma, resource, false);
    return Response.json(presentSchedule(schedule, authentication.environment));
  },
);

export const loader = route.loader;
export const action = route.action;
