/**
 * Pieces of the per-process zod env schemas (house rule 7) that must read alike in every process.
 * Pure: the schemas parse what they are given and never read the environment themselves.
 */
import { z } from "zod";

const TRUE_WORDS: ReadonlySet<string> = new Set(["true", "1", "yes", "on"]);
const FALSE_WORDS: ReadonlySet<string> = new Set(["false", "0", "no", "off"]);

/** `true`/`false`/`1`/`0`/`yes`/`no`/`on`/`off` in any case (blanks around it ignored); undefined for anything else. */
export function parseBooleanWord(text: string): boolean | undefined {
  const word = text.trim().toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  return undefined;
}

/**
 * An env boolean: unset or empty gives `defaultValue`; any other value that is not a boolean word is
 * refused. The issue is raised at the variable's key, so the schema's error names the variable.
 */
export const envBoolean = (defaultValue: boolean) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value.trim() === "") return defaultValue;
      const parsed = parseBooleanWord(value);
      if (parsed !== undefined) return parsed;
      ctx.addIssue({
        code: "custom",
        message: `expected a boolean (true/false, 1/0, yes/no, on/off, any case), got ${JSON.stringify(value)}`,
      });
      return z.NEVER;
    });
