import type { LoaderFunctionArgs } from "@remix-run/node";
import { Outlet, isRouteErrorResponse, useRouteError } from "@remix-run/react";
import { requireEnvironment } from "../services/dashboard.server";
import { requireUser } from "../services/session.server";

/** Every environment page: the signed-in user must be a member of the environment's organisation. */
export async function loader({ request, params, context }: LoaderFunctionArgs) {
  const user = await requireUser(context, request);
  const environment = await requireEnvironment(context.services, user.id, params);
  return { environment: { id: environment.id, slug: environment.slug, type: environment.type } };
}

export default function EnvironmentLayout() {
  return <Outlet />;
}

export function ErrorBoundary() {
  const error = useRouteError();
  const status = isRouteErrorResponse(error) ? error.status : 500;
  return (
    <section className="page">
      <div className="empty">
        <h2>{status === 404 ? "Not found" : "Something went wrong"}</h2>
        <p className="muted">
          {isRouteErrorResponse(error) && typeof error.data === "string"
            ? error.data
            : "This page could not be loaded."}
        </p>
        <a className="button" href="/">
          Back to your runs
        </a>
      </div>
    </section>
  );
}
