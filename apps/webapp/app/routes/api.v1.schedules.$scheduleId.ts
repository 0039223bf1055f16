/**
 * One cron schedule (docs/decisions/093-run-lifecycle-timers.md), as the SDK's `schedules.retrieve`,
 * `schedules.update` and `schedules.del` call it: GET answers it, PUT replaces its task, cron, time
 * zone and external id, DELETE removes it (answered with its id). 404 for a schedule of another
 * environment. Secret keys only.
 */
import type { ActionFunctionArgs } from "@remix-run/node";
import { ScheduleIdParams, UpdateScheduleRequestBody } from "@runfeed/core";
import { createApiRoute } from "../services/apiRoute.server";
import { deleteSchedule, findSchedule, presentSchedule, updateSchedule } from "../engine/schedules.server";

const retrieve = createApiRoute(
  {
    name: "api.v1.schedules.retrieve",
    method: "GET",
    params: ScheduleIdParams,
    findResource: ({ params, authentication, services }) =>
      findSchedule(services.prisma, authentication.environment.id, params.scheduleId),
    notFoundMessage: "Schedule not found",
  },
  async ({ resource, authentication }) => Response.json(presentSchedule(resource, authentication.environment)),
);

const update = createApiRoute(
  {
    name: "api.v1.schedules.update",
    method: "PUT",
    params: ScheduleIdParams,
    body: UpdateScheduleRequestBody,
    findResource: ({ params, authentication, services }) =>
      findSchedule(services.prisma, authentication.environment.id, params.scheduleId),
    notFoundMessage: "Schedule not found",
  },
  async ({ resource, body, authentication, services }) => {
    const schedule = await updateSchedule(services.prisma, resource, body);
    return Response.json(presentSchedule(schedule, authentication.environment));
  },
);

const remove = createApiRoute(
  {
    name: "api.v1.schedules.delete",
    method: "DELETE",
    params: ScheduleIdParams,
    findResource: ({ params, authentication, services }) =>
      findSchedule(services.prisma, authentication.environment.id, params.scheduleId),
    notFoundMessage: "Schedule not found",
  },
  async ({ resource, services }) => {
    await deleteSchedule(services.prisma, resource);
    return Response.json({ id: resource.friendlyId });
  },
);

export const loader = retrieve.loader;
export const action = (args: ActionFunctionArgs) =>
  args.request.method === "DELETE" ? remove.action(args) : update.action(args);
