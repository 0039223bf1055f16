/** Scopes offered as checkboxes on the API keys page; any valid scope may also be typed in. */
export const COMMON_SCOPES = [
  "read:runs",
  "write:runs",
  "trigger:tasks",
  "batchTrigger:tasks",
  "read:tags",
  "read:batch",
  "admin",
] as const;
