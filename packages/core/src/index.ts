export * from "./electric-protocol.js";
export * from "./trigger-protocol.js";
export * from "./run-columns.js";
export * from "./scopes.js";
export * from "./ids.js";
export * from "./status.js";
export * from "./metadata-operations.js";
export * from "./api-schemas.js";
