export * from "./electric-protocol.js";
export * from "./run-columns.js";
export * from "./scopes.js";
export * from "./ids.js";
