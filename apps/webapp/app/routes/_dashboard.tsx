import type { LinksFunction, LoaderFunctionArgs } from "@remix-run/node";
import { Outlet, isRouteErrorResponse, useLoaderData, useRouteError } from "@remix-run/react";
import stylesheet from "../styles/app.css?url";
import { AppShell } from "../components/AppShell";
import { switcherTree } from "../services/dashboard.server";
import { requireUser } from "../services/session.server";

export const links: LinksFunction = () => [{ rel: "stylesheet", href: stylesheet }];

export async function loader({ request, context }: LoaderFunctionArgs) {
  const user = await requireUser(context, request);
  return {
    user: { name: user.name, email: user.email },
    organizations: await switcherTree(context.services.prisma, user.id),
  };
}

export default function Dashboard() {
  const { user, organizations } = useLoaderData<typeof loader>();
  return (
    <AppShell user={user} organizations={organizations}>
      <Outlet />
    </AppShell>
  );
}

export function ErrorBoundary() {
  const error = useRouteError();
  const message = isRouteErrorResponse(error)
    ? `${error.status} · ${typeof error.data === "string" ? error.data : error.statusText}`
    : "Something went wrong.";
  return (
    <main className="login">
      <div className="login-card">
        <h1>{message}</h1>
        <p>
          <a href="/">Back to the dashboard</a>
        </p>
      </div>
    </main>
  );
}
