/**
 * The realtime routes' resource lookups, with what never changes about a run or batch remembered for
 * FEED_LOOKUP_TTL_MS (docs/decisions/071-realtime-repoll-cpu.md). A live client re-polls the same feed
 * every time it is answered, so a burst of woken polls would otherwise read the same row once each.
 *
 * Remembered per (environment id, friendly id), per app instance (Services.feedLookups): a run's id, friendlyId,
 * taskIdentifier and batch friendlyId, and a batch's id and friendlyId — none of them ever changes
 * for the row's life. Misses are never remembered (a run created a moment ago is found at once).
 * A run's tags CAN change and authorization may rest on them: a remembered run is used only when the
 * caller's ability is granted by the fixed fields alone; otherwise the run (with its tags) is read
 * afresh, so a tag removed a moment ago never authorizes a request.
 */
import type { PrismaClient } from "@runfeed/database";
import type { ScopeResource } from "@runfeed/core";
import type { Authentication } from "../auth.server";
import { TtlCache } from "../ttlCache.server";

export const FEED_LOOKUP_TTL_MS = 2_000;
const OPTIONS = { ttlMs: FEED_LOOKUP_TTL_MS, maxEntries: 10_000 };

export interface FeedRun {
  id: string;
  friendlyId: string;
  taskIdentifier: string;
  batch: { friendlyId: string } | null;
  /** Present when read from the database on this request; absent for a remembered run. */
  runTags?: string[];
}

export interface FeedBatch {
  id: string;
  friendlyId: string;
}

/** A remembered run's resources, built once (every re-poll checks them, twice). */
const rememberedResources = new WeakMap<FeedRun, ScopeResource[]>();

/** The resources a run grants read on; its tags only when they were read on this request. */
export function runResources(run: FeedRun): ScopeResource[] {
  if (run.runTags !== undefined) return resourcesOf(run);
  let resources = rememberedResources.get(run);
  if (!resources) rememberedResources.set(run, (resources = resourcesOf(run)));
  return resources;
}

function resourcesOf(run: FeedRun): ScopeResource[] {
  return [
    { type: "runs", id: run.friendlyId },
    { type: "tasks", id: run.taskIdentifier },
    ...(run.runTags ?? []).map((tag) => ({ type: "tags", id: tag })),
    ...(run.batch ? [{ type: "batch", id: run.batch.friendlyId }] : []),
  ];
}

export class FeedLookups {
  readonly #prisma: PrismaClient;
  readonly #runs = new TtlCache<FeedRun>(OPTIONS);
  readonly #batches = new TtlCache<FeedBatch>(OPTIONS);

  constructor(options: { prisma: PrismaClient }) {
    this.#prisma = options.prisma;
  }

  async findRun(authentication: Authentication, friendlyId: string): Promise<FeedRun | null> {
    const environmentId = authentication.environment.id;
    const key = `${environmentId}\0${friendlyId}`;
    const known = this.#runs.peek(key);
    if (known && authentication.ability.canAny("read", runResources(known))) return known;
    const run = await this.#prisma.taskRun.findFirst({
      where: { friendlyId, runtimeEnvironmentId: environmentId },
      select: {
        id: true,
        friendlyId: true,
        taskIdentifier: true,
        runTags: true,
        batch: { select: { friendlyId: true } },
      },
    });
    if (!run) return null;
    const { id, taskIdentifier, batch } = run;
    this.#runs.set(key, { id, friendlyId: run.friendlyId, taskIdentifier, batch });
    return run;
  }

  async findBatch(environmentId: string, friendlyId: string): Promise<FeedBatch | null> {
    const key = `${environmentId}\0${friendlyId}`;
    const known = this.#batches.peek(key);
    if (known) return known;
    const batch = await this.#prisma.batchTaskRun.findFirst({
      where: { friendlyId, runtimeEnvironmentId: environmentId },
      select: { id: true, friendlyId: true },
    });
    if (batch) this.#batches.set(key, batch);
    return batch;
  }
}
