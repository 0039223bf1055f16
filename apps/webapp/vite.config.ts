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
  server: { hmr: false },
  // Pre-bundle the browser's dependencies up front and never discover more at runtime: without HMR
  // there is no reload after a late re-optimisation, which leaves two copies of React on the page
  // (and several dev servers share this cache dir). A new browser dependency goes in this list.
  optimizeDeps: {
    noDiscovery: true,
    include: [
      "react",
      "react-dom",
      "react-dom/client",
      "react/jsx-runtime",
      "react/jsx-dev-runtime",
      "@remix-run/react",
      "@electric-sql/client",
      "zod",
    ],
  },
  logLevel: "warn",
});
