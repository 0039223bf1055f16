/**
 * A small RFC 4180 CSV parser (quoted fields, doubled quotes, CRLF) and a sample-data generator
 * for the import example. Pure.
 */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (char === '"') {
        quoted = false;
      } else {
        field += char;
      }
    } else if (char === '"' && field === "") {
      quoted = true;
    } else if (char === ",") {
      row.push(field);
      field = "";
    } else if (char === "\n" || char === "\r") {
      if (char === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      field = "";
      if (row.some((value) => value !== "")) rows.push(row);
      row = [];
    } else {
      field += char;
    }
  }
  row.push(field);
  if (row.some((value) => value !== "")) rows.push(row);
  return rows;
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
