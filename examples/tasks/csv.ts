/**
 * CSV for the import example: parsing by csv-parse (RFC 4180: quoted fields, doubled quotes, CRLF),
 * and a sample-data generator. Pure.
 */
import { parse } from "csv-parse/sync";

/** The rows of `text` as strings; blank lines and rows of empty fields are skipped, rows may differ in length. */
export function parseCsv(text: string): string[][] {
  return parse(text, {
    skip_empty_lines: true,
    skip_records_with_empty_values: true,
    relax_column_count: true,
    relax_quotes: true,
  }) as string[][];
}

const FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Linus"];
const LAST = [
  "Lovelace",
  "Hopper",
  "Turing",
  "Dijkstra",
  "Liskov",
  "Knuth",
  "Allen",
  "Thompson",
  "Hamilton",
  "Torvalds",
];

/** `rows` customers: `id,name,email,plan,amount`; every 37th row has an invalid email. */
export function sampleCsv(rows: number): string {
  const lines = ["id,name,email,plan,amount"];
  for (let i = 1; i <= rows; i++) {
    const first = FIRST[i % FIRST.length]!;
    const last = LAST[(i * 7) % LAST.length]!;
    const email =
      i % 37 === 0 ? `${first.toLowerCase()}.example.com` : `${first}.${last}${i}@example.com`.toLowerCase();
    const plan = ["free", "pro", "team"][i % 3]!;
    lines.push(`${i},"${last}, ${first}",${email},${plan},${((i * 13) % 500) + 0.99}`);
  }
  return lines.join("\n") + "\n";
}
