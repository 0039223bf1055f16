import pino, { type Logger } from "pino";

export type { Logger };

export function createLogger(level: string): Logger {
  return pino({ name: "webapp", level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime });
}
