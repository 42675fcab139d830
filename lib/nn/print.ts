// Text helpers that make printModel() print exactly what PyTorch's print(model) prints.

/** PyTorch's `_addindent`: indent every line but the first by `spaces`. */
export function indent(text: string, spaces: number): string {
  const lines = text.split("\n");
  if (lines.length === 1) return text;
  const pad = " ".repeat(spaces);
  return [lines[0], ...lines.slice(1).map((line) => pad + line)].join("\n");
}

/** A boolean as Python prints it. */
export function pyBool(value: boolean): string {
  return value ? "True" : "False";
}

/**
 * A float as Python's repr prints it: `0.1`, `2.0`, `1e-05`, `1e-12`, `1e+16`.
 * Both languages print the shortest digits that round-trip; they differ only in when they
 * switch to scientific notation (Python: exponent < -4 or >= 16) and how they write it.
 */
export function pyFloat(value: number): string {
  if (Number.isNaN(value)) return "nan";
  if (!Number.isFinite(value)) return value > 0 ? "inf" : "-inf";
  const [mantissa, exponentText] = value.toExponential().split("e");
  const exponent = Number(exponentText);
  if (exponent < -4 || exponent >= 16) {
    const sign = exponent < 0 ? "-" : "+";
    return `${mantissa}e${sign}${String(Math.abs(exponent)).padStart(2, "0")}`;
  }
  // In this range JavaScript's String() is already fixed-point with the shortest digits.
  const fixed = Object.is(value, -0) ? "-0" : String(value);
  return Number.isInteger(value) ? `${fixed}.0` : fixed;
}

/** A shape as a Python tuple: `(768,)`, `(3, 5)`. */
export function pyTuple(values: readonly number[]): string {
  return values.length === 1 ? `(${values[0]},)` : `(${values.join(", ")})`;
}

/** A string as Python's repr quotes it (the simple cases module reprs need). */
export function pyStr(value: string): string {
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

/** 66955010 -> "66,955,010" */
export function withCommas(n: number): string {
  return n.toLocaleString("en-US");
}
