export * from "./electric-protocol.js";
export * from "./run-columns.js";
