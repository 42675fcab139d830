import { pct } from "../../lib/util/format";

test("pct writes a fraction as a percentage with two decimals, and a dash where there is none", () => {
  expect(pct(0.8944)).toBe("89.44%");
  expect(pct(1)).toBe("100.00%");
  expect(pct(0)).toBe("0.00%");
  expect(pct(null)).toBe("–");
  expect(pct(undefined)).toBe("–");
});
