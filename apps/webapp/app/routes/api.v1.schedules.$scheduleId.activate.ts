/**
 * POST /api/v1/schedules/:scheduleId/activate (`schedules.activate` of the SDK): Activates a schedule
 * (its timer set for the next tick from now), answered with the schedule. Secret keys only.
 */
import { ScheduleIdParams } from "@runfeed/core";
import { createApiRoute } from "../services/apiRoute.server";
import { findSchedule, presentSchedule, setScheduleActive } from "../engine/schedules.server";

const route = createApiRoute(
  {
    name: "api.v1.schedules.activate",
    method: "POST",
    params: ScheduleIdParams,
    findResource: ({ params, authentication, services }) =>
      findSchedule(services.prisma, authentication.environment.id, params.scheduleId),
    notFoundMessage: "Schedule not found",
  },
  async ({ resource, authentication, services }) => {
    const schedule = await setScheduleActive(services.prisma, resource, true);
    return Response.json(presentSchedule(schedule, authentication.environment));
  },
);

export const loader = route.loader;
export const action = route.action;
