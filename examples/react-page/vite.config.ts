import { defineConfig } from "vite";
import { pageConfig } from "./page-config.js";

export default defineConfig(pageConfig(process.env.HOOKS === "trigger" ? "trigger" : "runfeed"));
