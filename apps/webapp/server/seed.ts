/**
 * `seed.ts`          seeds the demo organisation, project, environments and sign-in (idempotent; the
 *                    demo password is new on every run) and prints them as JSON on stdout.
 * `seed.ts scenario` triggers the demo CSV import (~1,200 rows in 30 child runs at 150 ms a row:
 *                    progress climbs for about a minute), which the webapp's worker then runs.
 * Run by `pnpm start`; safe by hand: `DATABASE_URL=… REDIS_URL=… node --import tsx apps/webapp/server/seed.ts`.
 */
import { createPrismaClient } from "@runfeed/database";
import { sampleCsv } from "@runfeed/example-tasks";
import { parseEnv } from "../app/env.server.js";
import { seedDemo, seedDemoScenario, seedDemoUser } from "../app/services/seed.server.js";

const env = parseEnv(process.env);
const prisma = createPrismaClient(env.DATABASE_URL, { max: 2 });
try {
  if (process.argv[2] === "scenario") {
    const scenario = await seedDemoScenario(
      { prisma, env },
      {
        taskId: "csv-import",
        payload: { filename: "welcome-customers.csv", csv: sampleCsv(1200), batchSize: 40, rowDelayMs: 150 },
        tags: ["example:csv-import"],
      },
    );
    process.stdout.write(JSON.stringify(scenario) + "\n");
  } else {
    const demo = await seedDemo(prisma);
    const user = await seedDemoUser(prisma, { organizationIds: [demo.organizationId] });
    process.stdout.write(JSON.stringify({ ...demo, user }) + "\n");
  }
} finally {
  await prisma.$disconnect();
}
