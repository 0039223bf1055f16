import { redirect, type LoaderFunctionArgs } from "@remix-run/node";

export const loader = ({ request }: LoaderFunctionArgs) =>
  redirect(`${new URL(request.url).pathname.replace(/\/$/, "")}/runs`);
