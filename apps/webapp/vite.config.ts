import { vitePlugin as remix } from "@remix-run/dev";
import { defineConfig } from "vite";

export default defineConfig({
  plugins: [
    remix({
      ignoredRouteFiles: ["**/*.server.*", "**/*.test.*", "**/.*"],
      future: {
        v3_fetcherPersist: true,
        v3_relativeSplatPath: true,
        v3_throwAbortReason: true,
        v3_singleFetch: true,
        v3_lazyRouteDiscovery: true,
      },
    }),
  ],
  // Pre-bundle the browser's dependencies up front and never discover more at runtime: a late
  // re-optimisation reloads every open page, or without HMR leaves two copies of React on it (and
  // several dev servers share this cache dir). A new browser dependency goes in this list.
  optimizeDeps: {
    noDiscovery: true,
    include: [
      "react",
      "react-dom",
      "react-dom/client",
      "react/jsx-runtime",
      "react/jsx-dev-runtime",
      "@remix-run/react",
      // The SDK's Electric client, reached through @runfeed/react-hooks (the app does not import it).
      "@runfeed/sdk > @electric-sql/client",
      "zod",
    ],
  },
  logLevel: "warn",
});
