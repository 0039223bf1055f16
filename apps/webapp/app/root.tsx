import type { LinksFunction, MetaFunction } from "@remix-run/node";
import { Links, Meta, Outlet, Scripts, ScrollRestoration } from "@remix-run/react";
import { useNonce } from "./nonce";

/** Default title; routes set their own through `meta`. */
export const meta: MetaFunction = () => [{ title: "runfeed" }];

/** The brand mark as the tab icon (public/favicon.svg); without one the browser asks for /favicon.ico and logs its 404. */
export const links: LinksFunction = () => [{ rel: "icon", type: "image/svg+xml", href: "/favicon.svg" }];

export function Layout({ children }: { children: React.ReactNode }) {
  const nonce = useNonce();
  return (
    <html lang="en">
      <head>
        <meta charSet="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <Meta />
        <Links />
        {/* Before any module: zod runs jitless in the browser. Its JIT probe calls `new Function`, which
            the CSP (no 'unsafe-eval') refuses and reports. `z.config` would come too late: schemas are
            built while modules load, and zod reads this global when it loads. */}
        <script nonce={nonce} suppressHydrationWarning>
          {"globalThis.__zod_globalConfig = { jitless: true };"}
        </script>
      </head>
      <body>
        {children}
        <ScrollRestoration nonce={nonce} />
        <Scripts nonce={nonce} />
      </body>
    </html>
  );
}

export default function App() {
  return <Outlet />;
}
