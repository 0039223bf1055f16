/**
 * Which realtime backend serves an organisation's run feeds (docs/decisions/073-realtime-notifier-backend.md):
 * its own choice (Organization.realtimeBackend, set on the dashboard's Realtime page) or REALTIME_BACKEND.
 *
 * Overrides are read per organisation and remembered briefly. Whether any feed at all may be served
 * natively (and so whether write paths publish signals) is known from the default and from a periodic
 * look for organisations that chose otherwise.
 */
import type { PrismaClient } from "@runfeed/database";
import { z } from "zod";
import { TtlCache } from "../ttlCache.server";

export const RealtimeBackendName = z.enum(["electric", "native", "shadow"]);
export type RealtimeBackendName = z.infer<typeof RealtimeBackendName>;

const OVERRIDE_TTL_MS = 5_000;
const REFRESH_INTERVAL_MS = 30_000;

export class BackendSelection {
  readonly #prisma: PrismaClient;
  readonly #overrides = new TtlCache<Promise<RealtimeBackendName | null>>({
    ttlMs: OVERRIDE_TTL_MS,
    maxEntries: 10_000,
  });
  #anyNativeOverride = false;
  readonly #timer: NodeJS.Timeout;

  constructor(private readonly options: { prisma: PrismaClient; defaultBackend: RealtimeBackendName }) {
    this.#prisma = options.prisma;
    this.#timer = setInterval(() => void this.refresh(), REFRESH_INTERVAL_MS);
    this.#timer.unref();
    void this.refresh();
  }

  get defaultBackend(): RealtimeBackendName {
    return this.options.defaultBackend;
  }

  /** Whether some feed may be served natively (or in shadow): signals are needed. */
  signalsNeeded(): boolean {
    return this.options.defaultBackend !== "electric" || this.#anyNativeOverride;
  }

  async forOrganization(organizationId: string): Promise<RealtimeBackendName> {
    let override = this.#overrides.peek(organizationId);
    if (!override) {
      override = this.#prisma.organization
        .findUnique({ where: { id: organizationId }, select: { realtimeBackend: true } })
        .then((row) => RealtimeBackendName.safeParse(row?.realtimeBackend).data ?? null);
      this.#overrides.set(organizationId, override);
      override.catch(() => this.#overrides.delete(organizationId, override));
    }
    return (await override) ?? this.options.defaultBackend;
  }

  /** Sets (or with null clears) an organisation's override; takes effect on this instance at once. */
  async setOverride(organizationId: string, backend: RealtimeBackendName | null): Promise<void> {
    await this.#prisma.organization.update({ where: { id: organizationId }, data: { realtimeBackend: backend } });
    this.#overrides.delete(organizationId);
    if (backend !== null && backend !== "electric") this.#anyNativeOverride = true;
    else await this.refresh();
  }

  async refresh(): Promise<void> {
    try {
      const found = await this.#prisma.organization.findFirst({
        where: { realtimeBackend: { in: ["native", "shadow"] } },
        select: { id: true },
      });
      this.#anyNativeOverride = found !== null;
    } catch {
      // Kept as it was: the next refresh tries again.
    }
  }

  close(): void {
    clearInterval(this.#timer);
  }
}
