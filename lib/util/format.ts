// How the book and the library write numbers for people.

/** A fraction as a percentage with two decimals, 0.8944 -> "89.44%"; "–" where there is no value (a split not evaluated, a run not made). */
export function pct(x: number | null | undefined): string {
  return x === null || x === undefined ? "–" : `${(100 * x).toFixed(2)}%`;
}
