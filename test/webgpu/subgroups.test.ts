import { runChildReport } from "./child";
import { allGather, liftEnableDirectives, reduceScatter } from "../../lib/webgpu/subgroups";

// Sums over a quad of threads through subgroup shuffles (lib/webgpu/subgroups.ts), which the
// attention's quad kernels build on; and the module-level directives their shaders need.

test("a quad's reduce-scatter leaves lane l the sums of block l, and the all-gather gives every lane all of them", () => {
  const report = runChildReport<{ subgroups: boolean; owned: number[][]; gathered: number[][] }>("subgroup-sums.ts", 300_000);
  expect(report.subgroups).toBe(true);
  // Thread t = 4g + j holds 16 t + n: the quad's sum of value n is 16 (16 g + 6) + 4 n.
  const sum = (g: number, n: number) => 16 * (16 * g + 6) + 4 * n;
  for (let t = 0; t < 8; t++) {
    const g = Math.floor(t / 4);
    const lane = t % 4;
    expect(report.owned[t]).toEqual([sum(g, 2 * lane), sum(g, 2 * lane + 1)]);
    expect(report.gathered[t]).toEqual([...Array(8).keys()].map((n) => sum(g, n)));
  }
}, 310_000);

test("the generated code shuffles N (lanes - 1) / lanes values each way", () => {
  const values = [...Array(16).keys()].map((n) => `x${n}`);
  const scatter = reduceScatter("s", values, 4);
  expect(scatter.owned).toHaveLength(4);
  expect(scatter.code.match(/subgroupShuffleXor/g)).toHaveLength(8 + 4);
  const gather = allGather("g", scatter.owned, 4);
  expect(gather.all).toHaveLength(16);
  expect(gather.code.match(/subgroupShuffleXor/g)).toHaveLength(4 + 8);
  expect(() => reduceScatter("s", ["a", "b", "c"], 4)).toThrow("3 values do not split over 4 lanes");
  expect(() => reduceScatter("s", values, 8)).toThrow("8 lanes");
});

test("enable directives move to the top of a module, once each", () => {
  const code = "struct Uniforms { n : i32 };\n  enable subgroups;\nfn main() {}\nenable subgroups;\n";
  const lifted = liftEnableDirectives(code);
  expect(lifted.startsWith("enable subgroups;\n")).toBe(true);
  expect(lifted.match(/enable subgroups;/g)).toHaveLength(1);
  expect(lifted).toContain("struct Uniforms { n : i32 };");
  expect(liftEnableDirectives("fn main() {}")).toBe("fn main() {}");
});
