/**
 * The two schedule switches of the SDK (`schedules.activate`, `schedules.deactivate`): POST
 * /api/v1/schedules/:scheduleId/activate|deactivate, answered with the schedule. Activating sets its
 * timer for the next tick from now; deactivating removes the pending timer, so no run is triggered
 * until it is activated again. Secret keys only.
 */
import { ScheduleIdParams } from "@runfeed/core";
import { findSchedule, presentSchedule, setScheduleActive } from "../engine/schedules.server";
import { createApiRoute } from "./apiRoute.server";

export function scheduleActivationRoute(active: boolean) {
  return createApiRoute(
    {
      name: active ? "api.v1.schedules.activate" : "api.v1.schedules.deactivate",
      method: "POST",
      params: ScheduleIdParams,
      findResource: ({ params, authentication, services }) =>
        findSchedule(services.prisma, authentication.environment.id, params.scheduleId),
      notFoundMessage: "Schedule not found",
    },
    async ({ resource, authentication, services }) => {
      const schedule = await setScheduleActive(services.prisma, resource, active);
      return Response.json(presentSchedule(schedule, authentication.environment));
    },
  );
}
