/**
 * Cron schedules (docs/decisions/093-run-lifecycle-timers.md), as the SDK's `schedules.create` and
 * `schedules.list` call them. POST creates a schedule, or updates the environment's schedule with the
 * same `deduplicationKey`; GET lists them a page at a time. Secret keys only.
 */
import { CreateScheduleRequestBody, ListSchedulesQuery } from "@runfeed/core";
import { createApiRoute } from "../services/apiRoute.server";
import { listSchedules, presentSchedule, upsertSchedule } from "../engine/schedules.server";

const create = createApiRoute(
  { name: "api.v1.schedules.create", method: "POST", body: CreateScheduleRequestBody },
  async ({ body, authentication, services }) => {
    const schedule = await upsertSchedule(services.prisma, authentication.environment, body);
    return Response.json(presentSchedule(schedule, authentication.environment));
  },
);

const list = createApiRoute(
  { name: "api.v1.schedules.list", method: "GET", searchParams: ListSchedulesQuery },
  async ({ searchParams, authentication, services }) => {
    const { schedules, count } = await listSchedules(services.prisma, authentication.environment.id, searchParams);
    return Response.json({
      data: schedules.map((schedule) => presentSchedule(schedule, authentication.environment)),
      pagination: {
        currentPage: searchParams.page,
        totalPages: Math.max(1, Math.ceil(count / searchParams.perPage)),
        count,
      },
    });
  },
);

export const loader = list.loader;
export const action = create.action;
