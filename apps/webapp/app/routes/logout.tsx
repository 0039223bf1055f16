import { redirect, type ActionFunctionArgs } from "@remix-run/node";
import { logout } from "../services/session.server";

export const action = ({ request, context }: ActionFunctionArgs) => logout(context.services, request);
export const loader = () => redirect("/");
