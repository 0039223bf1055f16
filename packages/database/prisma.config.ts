import { defineConfig } from "prisma/config";

// The schema lives at the repo root (prisma/); this package owns the generated client.
export default defineConfig({
  schema: "../../prisma/schema.prisma",
  migrations: { path: "../../prisma/migrations" },
  datasource: { url: process.env.DATABASE_URL ?? "postgresql://localhost/runfeed" },
});
