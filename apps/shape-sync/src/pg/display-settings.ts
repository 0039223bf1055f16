/**
 * The session settings under which Postgres prints values the way shapes send them (§9.4): set on the
 * replication connection (pgoutput's text) and in every snapshot transaction (`::text` of each column).
 */
export const DISPLAY_SETTINGS = [
  "bytea_output = 'hex'",
  "DateStyle = 'ISO, DMY'",
  "TimeZone = 'UTC'",
  "extra_float_digits = 1",
  "IntervalStyle = 'iso_8601'",
] as const;
