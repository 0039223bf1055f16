import { redirect, type LoaderFunctionArgs } from "@remix-run/node";
import { defaultEnvPath } from "../services/dashboard.server";
import { requireUser } from "../services/session.server";

/** `/`: the user's first environment, or sign-in. */
export async function loader({ request, context }: LoaderFunctionArgs) {
  const user = await requireUser(context, request);
  const path = await defaultEnvPath(context.services.prisma, user.id);
  if (!path) throw new Response("You are not a member of any organisation yet.", { status: 404 });
  return redirect(path);
}
