/** Postgres identifier parsing for `table` and `columns` params (§1.2 [ident]). Pure. */
export class IdentifierError extends Error {
  override name = "IdentifierError";
}

const UNQUOTED = /^[\p{L}_][\p{L}\p{M}_0-9$]*$/u;

function parseOne(part: string, whole: string): string {
  if (part.length === 0) throw new IdentifierError(`Invalid zero-length delimited identifier`);
  let name: string;
  if (part.startsWith('"')) {
    if (!part.endsWith('"') || part.length < 2)
      throw new IdentifierError(`Invalid unquoted identifier contains special characters: ${whole}`);
    name = part.slice(1, -1);
    if (name.length === 0) throw new IdentifierError(`Invalid zero-length delimited identifier`);
    if (/(^|[^"])"("")*([^"]|$)/.test(name.replace(/""/g, "")))
      throw new IdentifierError(`Invalid identifier with unescaped quote: ${whole}`);
    name = name.replace(/""/g, '"');
  } else {
    if (!UNQUOTED.test(part))
      throw new IdentifierError(`Invalid unquoted identifier contains special characters: ${part}`);
    name = part.toLowerCase();
  }
  if (name.length > 63) throw new IdentifierError(`Identifier is too long (max length is 63)`);
  return name;
}

/** Splits on `sep` outside double quotes. */
export function splitOutsideQuotes(text: string, sep: string): string[] {
  const parts: string[] = [];
  let cur = "";
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    if (ch === sep && !quoted) {
      parts.push(cur);
      cur = "";
    } else cur += ch;
  }
  parts.push(cur);
  return parts;
}

export function parseRelation(text: string): { schema: string; table: string } {
  const parts = splitOutsideQuotes(text.trim(), ".");
  if (parts.length > 2) throw new IdentifierError(`Invalid relation identifier, too many delimiters: ${text}`);
  if (parts.length === 2) return { schema: parseOne(parts[0]!.trim(), text), table: parseOne(parts[1]!.trim(), text) };
  return { schema: "public", table: parseOne(parts[0]!.trim(), text) };
}

export function parseColumnList(text: string): string[] {
  return splitOutsideQuotes(text, ",").map((p) => parseOne(p.trim(), text));
}

export const quoteIdent = (s: string) => `"${s.replace(/"/g, '""')}"`;
