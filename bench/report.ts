/**
 * The last line every benchmark prints: `{"bench":"<name>","figures":{…}}`, holding the figures it
 * printed for people above (rounded the same way), so scripts can compare runs (bench/README.md).
 */
export type Figures = { [name: string]: number | string | boolean | null | Figures };

export class BenchReport {
  readonly figures: Figures = {};

  constructor(readonly bench: string) {}

  /** Records one section's figures (e.g. "ingest"); a section recorded twice is replaced. */
  add(section: string, figures: Figures): void {
    this.figures[section] = figures;
  }

  /** Prints the JSON line. Call it last, after the benchmark has stopped everything it started. */
  print(): void {
    process.stdout.write(`${JSON.stringify({ bench: this.bench, figures: this.figures })}\n`);
  }
}

/** `n` rounded to `digits` decimals, as the printed figure shows it (NaN becomes null). */
export function round(n: number, digits = 0): number | null {
  if (!Number.isFinite(n)) return null;
  const factor = 10 ** digits;
  return Math.round(n * factor) / factor;
}
