/**
 * Errors raised while evaluating one row (bad input text, out of range, division by zero): the row
 * evaluates to NULL.
 */
export class ValueParseError extends Error {
  override name = "ValueParseError";
}
