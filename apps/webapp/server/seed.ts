/**
 * Seeds the demo organisation, project and environments (idempotent) and prints them as JSON on stdout.
 * Run by `pnpm start`; safe to run by hand: `DATABASE_URL=… REDIS_URL=… tsx apps/webapp/server/seed.ts`.
 */
import { createPrismaClient } from "@runfeed/database";
import { parseEnv } from "../app/env.server.js";
import { seedDemo } from "../app/services/seed.server.js";

const env = parseEnv(process.env);
const prisma = createPrismaClient(env.DATABASE_URL, { max: 2 });
try {
  const demo = await seedDemo(prisma);
  process.stdout.write(JSON.stringify({ environments: demo.environments }) + "\n");
} finally {
  await prisma.$disconnect();
}
