/**
 * The audit log: sign-ins (and failed ones), session ends, password changes, and key creation, rolls
 * and revocations, each with the user, the time and the client address. The API keys page lists an
 * environment's key events and the session events of its organisation's members.
 */
import type { Prisma, PrismaClient } from "@runfeed/database";

export type AuditAction =
  | "sign-in"
  | "sign-in-failed"
  | "sign-out"
  | "sign-out-everywhere"
  | "password-changed"
  | "api-key-created"
  | "api-key-revoked"
  | "root-key-rolled";

/** Who acted, and from where. */
export interface AuditActor {
  userId: string | undefined;
  clientAddress: string;
}

export interface AuditEntry {
  action: AuditAction;
  actor: AuditActor;
  environmentId?: string;
  details?: Record<string, string>;
}

/** The create call, for callers that write it in one transaction with what it records. */
export function auditEventCreate(prisma: Prisma.TransactionClient, entry: AuditEntry) {
  return prisma.auditEvent.create({
    data: {
      action: entry.action,
      userId: entry.actor.userId ?? null,
      clientAddress: entry.actor.clientAddress,
      runtimeEnvironmentId: entry.environmentId ?? null,
      details: entry.details,
    },
  });
}

export async function recordAudit(prisma: PrismaClient, entry: AuditEntry): Promise<void> {
  await auditEventCreate(prisma, entry);
}

const SESSION_ACTIONS: AuditAction[] = [
  "sign-in",
  "sign-in-failed",
  "sign-out",
  "sign-out-everywhere",
  "password-changed",
];

export interface AuditRow {
  id: string;
  action: string;
  createdAt: number;
  email: string | null;
  clientAddress: string;
  details: Record<string, string>;
}

/** Newest first: the environment's own events and the session events of the organisation's members. */
export async function listAuditEvents(
  prisma: PrismaClient,
  environment: { id: string; organizationId: string },
  limit = 50,
): Promise<AuditRow[]> {
  const events = await prisma.auditEvent.findMany({
    where: {
      OR: [
        { runtimeEnvironmentId: environment.id },
        {
          runtimeEnvironmentId: null,
          action: { in: SESSION_ACTIONS },
          user: { memberships: { some: { organizationId: environment.organizationId } } },
        },
      ],
    },
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    take: limit,
    include: { user: { select: { email: true } } },
  });
  return events.map((event) => ({
    id: event.id,
    action: event.action,
    createdAt: event.createdAt.getTime(),
    email: event.user?.email ?? null,
    clientAddress: event.clientAddress,
    details: (event.details ?? {}) as Record<string, string>,
  }));
}
