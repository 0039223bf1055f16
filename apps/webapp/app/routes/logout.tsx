import { redirect, type ActionFunctionArgs } from "@remix-run/node";
import { endSession } from "../services/session.server";

export const action = ({ request, context }: ActionFunctionArgs) => endSession(context, request);
export const loader = () => redirect("/");
