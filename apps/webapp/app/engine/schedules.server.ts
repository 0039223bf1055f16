/**
 * Cron schedules (docs/decisions/093-run-lifecycle-timers.md). A schedule keeps one pending timer,
 * keyed by the schedule, set for its next tick. The tick's run is triggered with the idempotency key
 * `schedule:<id>:<tick>`, so a tick handled twice (a retried timer, two instances) still makes one
 * run; then the timer is set for the following tick. Cron expressions have five fields, or six with
 * seconds first, and are read in the schedule's IANA time zone (daylight saving included).
 */
import { CronExpressionParser } from "cron-parser";
import {
  generateScheduleFriendlyId,
  type CreateScheduleRequestBody,
  type UpdateScheduleRequestBody,
} from "@runfeed/core";
import type { PrismaClient, TaskRun, TaskSchedule } from "@runfeed/database";
import type { Db } from "../services/runLookup.server";
import type { AuthenticatedEnvironment } from "../services/auth.server";
import { badRequest } from "../services/httpErrors.server";
import { triggerRun } from "../services/trigger.server";
import { clearTimer, setTimer, TIMERS } from "./timers.server";

/** The next `count` ticks of `cron` in `timezone` strictly after `after`; throws on a bad expression. */
export function nextTicks(cron: string, timezone: string, after: Date, count = 1): Date[] {
  const expression = CronExpressionParser.parse(cron, { currentDate: after, tz: timezone, strict: false });
  return expression.take(count).map((date) => date.toDate());
}

export function isTimeZone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

const scheduleTimerKey = (schedule: Pick<TaskSchedule, "id">) => `schedule:${schedule.id}`;

/**
 * Creates a schedule, or updates the one with the same deduplication key (as upstream), and sets its
 * timer for the next tick. 400 for an expression or time zone that does not parse.
 */
export async function upsertSchedule(
  prisma: PrismaClient,
  environment: Pick<AuthenticatedEnvironment, "id" | "projectId">,
  body: CreateScheduleRequestBody,
  now = new Date(),
): Promise<TaskSchedule> {
  const { timezone, next } = firstTick(body, now);
  return prisma.$transaction(async (tx) => {
    const fields = {
      taskIdentifier: body.task,
      cron: body.cron,
      timezone,
      externalId: body.externalId ?? null,
      active: true,
      nextRunAt: next,
    };
    const schedule = await tx.taskSchedule.upsert({
      where: {
        runtimeEnvironmentId_deduplicationKey: {
          runtimeEnvironmentId: environment.id,
          deduplicationKey: body.deduplicationKey,
        },
      },
      create: {
        friendlyId: generateScheduleFriendlyId(),
        runtimeEnvironmentId: environment.id,
        projectId: environment.projectId,
        deduplicationKey: body.deduplicationKey,
        ...fields,
      },
      update: fields,
    });
    await armTick(tx, schedule, next);
    return schedule;
  });
}

/** The time zone (UTC when unset) and first tick after `now`; 400 for an expression or zone that does not parse. */
function firstTick(body: { cron: string; timezone?: string }, now: Date): { timezone: string; next: Date } {
  const timezone = body.timezone ?? "UTC";
  if (!isTimeZone(timezone)) throw badRequest(`Invalid request body: timezone: not an IANA time zone ("${timezone}")`);
  try {
    return { timezone, next: nextTicks(body.cron, timezone, now)[0]! };
  } catch (error) {
    throw badRequest(`Invalid request body: cron: ${(error as Error).message}`);
  }
}

const armTick = (db: Db, schedule: Pick<TaskSchedule, "id">, tick: Date) =>
  setTimer(db, TIMERS.scheduleTick, scheduleTimerKey(schedule), tick, {
    scheduleId: schedule.id,
    tick: tick.toISOString(),
  });

/** An environment's schedule by its friendly id (`sched_…`), as the SDK names it. */
export function findSchedule(prisma: PrismaClient, environmentId: string, scheduleId: string) {
  return prisma.taskSchedule.findFirst({ where: { runtimeEnvironmentId: environmentId, friendlyId: scheduleId } });
}

/** New task, cron, time zone and external id (`schedules.update`); an active schedule's timer moves to the new next tick. */
export async function updateSchedule(
  prisma: PrismaClient,
  schedule: TaskSchedule,
  body: UpdateScheduleRequestBody,
  now = new Date(),
): Promise<TaskSchedule> {
  const { timezone, next } = firstTick(body, now);
  return prisma.$transaction(async (tx) => {
    const updated = await tx.taskSchedule.update({
      where: { id: schedule.id },
      data: {
        taskIdentifier: body.task,
        cron: body.cron,
        timezone,
        externalId: body.externalId ?? null,
        nextRunAt: schedule.active ? next : null,
      },
    });
    if (updated.active) await armTick(tx, updated, next);
    return updated;
  });
}

/**
 * Activates a schedule (its timer set for the next tick from now) or deactivates it (its pending
 * timer removed; a tick already being handled finds it inactive and triggers nothing).
 */
export async function setScheduleActive(
  prisma: PrismaClient,
  schedule: TaskSchedule,
  active: boolean,
  now = new Date(),
): Promise<TaskSchedule> {
  return prisma.$transaction(async (tx) => {
    if (!active) {
      await clearTimer(tx, scheduleTimerKey(schedule));
      return tx.taskSchedule.update({ where: { id: schedule.id }, data: { active: false, nextRunAt: null } });
    }
    const [next] = nextTicks(schedule.cron, schedule.timezone, now) as [Date];
    const updated = await tx.taskSchedule.update({
      where: { id: schedule.id },
      data: { active: true, nextRunAt: next },
    });
    await armTick(tx, updated, next);
    return updated;
  });
}

/** Deletes a schedule and its pending timer; the runs it made stay. */
export async function deleteSchedule(prisma: PrismaClient, schedule: TaskSchedule): Promise<void> {
  await prisma.$transaction(async (tx) => {
    await clearTimer(tx, scheduleTimerKey(schedule));
    await tx.taskSchedule.delete({ where: { id: schedule.id } });
  });
}

/**
 * Handles tick `tick` of a schedule: triggers its run (once, whoever gets here first) and sets the
 * timer for the next tick. Returns the run when this call made it (undefined otherwise).
 */
export async function fireScheduleTick(
  prisma: PrismaClient,
  scheduleId: string,
  tick: Date,
): Promise<TaskRun | undefined> {
  const schedule = await prisma.taskSchedule.findUnique({
    where: { id: scheduleId },
    include: { runtimeEnvironment: { select: { id: true, projectId: true, type: true } } },
  });
  if (!schedule?.active) return undefined;
  const [upcoming, ...later] = nextTicks(schedule.cron, schedule.timezone, tick, 6);
  const { run, isCached } = await triggerRun(prisma, {
    environment: schedule.runtimeEnvironment,
    taskId: schedule.taskIdentifier,
    body: {
      payload: {
        scheduleId: schedule.friendlyId,
        type: "IMPERATIVE",
        timestamp: tick.toISOString(),
        lastTimestamp: schedule.lastRunAt?.toISOString(),
        externalId: schedule.externalId ?? undefined,
        timezone: schedule.timezone,
        upcoming: [upcoming, ...later].slice(0, 5).map((date) => date!.toISOString()),
      },
      options: {
        idempotencyKey: `schedule:${schedule.id}:${tick.toISOString()}`,
        tags: [`schedule:${schedule.friendlyId}`],
        ttl: 0,
      },
    },
    metadataMaximumSize: Number.MAX_SAFE_INTEGER,
  });
  const made = isCached ? undefined : run;
  if (!upcoming) return made;
  await prisma.$transaction(async (tx) => {
    // Only the first handler of this tick moves the schedule on (a late duplicate must not rewind it).
    const { count } = await tx.taskSchedule.updateMany({
      where: { id: schedule.id, OR: [{ lastRunAt: null }, { lastRunAt: { lt: tick } }] },
      data: { lastRunAt: tick, nextRunAt: upcoming },
    });
    if (count > 0) await armTick(tx, schedule, upcoming);
  });
  return made;
}

/** A schedule as the SDK's ScheduleObject. */
export function presentSchedule(schedule: TaskSchedule, environment: { id: string; type: string }) {
  return {
    id: schedule.friendlyId,
    type: "IMPERATIVE" as const,
    task: schedule.taskIdentifier,
    active: schedule.active,
    deduplicationKey: schedule.deduplicationKey,
    externalId: schedule.externalId,
    generator: { type: "CRON" as const, expression: schedule.cron, description: schedule.cron },
    timezone: schedule.timezone,
    nextRun: schedule.active ? (schedule.nextRunAt?.toISOString() ?? null) : null,
    environments: [{ id: environment.id, type: environment.type }],
  };
}

/** An environment's schedules, newest first, a page at a time. */
export async function listSchedules(
  prisma: PrismaClient,
  environmentId: string,
  page: { page: number; perPage: number },
): Promise<{ schedules: TaskSchedule[]; count: number }> {
  const [schedules, count] = await prisma.$transaction([
    prisma.taskSchedule.findMany({
      where: { runtimeEnvironmentId: environmentId },
      orderBy: { createdAt: "desc" },
      skip: (page.page - 1) * page.perPage,
      take: page.perPage,
    }),
    prisma.taskSchedule.count({ where: { runtimeEnvironmentId: environmentId } }),
  ]);
  return { schedules, count };
}
