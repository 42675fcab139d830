import * as path from "path";
import { prepareImdb } from "../../lib/data/imdb-prepare";
import { formatSplitCounts, lengthHistogram, lengthSummary, splitCounts } from "../../lib/data/stats";
import { makeTempDir, removeTempDir, writeFakeImdbTarGz } from "../helpers/fake-imdb";

let tmp: string;
beforeAll(() => (tmp = makeTempDir()));
afterAll(() => removeTempDir(tmp));

test("counts per split and label come from the manifest, and print as a table", async () => {
  const archive = await writeFakeImdbTarGz(path.join(tmp, "fake.tar.gz"), { perFolder: 25 });
  const { manifest } = await prepareImdb({ source: archive, outDir: path.join(tmp, "imdb"), balanceTolerance: 0.5, log: () => undefined });
  const rows = splitCounts(manifest);
  expect(rows.map((r) => [r.split, r.count])).toEqual([["train", 70], ["val", 10], ["test", 20]]);
  for (const r of rows) {
    expect(r.neg + r.pos).toBe(r.count);
    expect(r.posShare).toBeCloseTo(r.pos / r.count);
  }
  const table = formatSplitCounts([
    { split: "train", count: 35000, neg: 17439, pos: 17561, posShare: 17561 / 35000 },
    { split: "val", count: 5000, neg: 2546, pos: 2454, posShare: 2454 / 5000 },
  ]);
  expect(table).toBe(
    [
      "split  reviews     neg     pos  pos %",
      "train   35,000  17,439  17,561  50.17",
      "val      5,000   2,546   2,454  49.08",
      "all     40,000  19,985  20,015  50.04",
    ].join("\n"),
  );
});

test("length summary: median, mean, 90th percentile and reviews cut at maxLength", () => {
  const s = lengthSummary([10, 20, 30, 40, 512, 512, 100, 60, 70, 80], 512);
  expect(s).toEqual({ count: 10, min: 10, median: 70, mean: 143.4, p90: 512, max: 512, truncated: 2 });
  expect(() => lengthSummary([])).toThrow(/no lengths/);
});

test("the length histogram is a plain-JSON Plotly figure, one pre-binned bar trace per split", () => {
  const fig = lengthHistogram({ train: [3, 5, 17, 40, 512], val: [1, 16] }, { binSize: 16, maxLength: 512 });
  expect(JSON.parse(JSON.stringify(fig))).toEqual(fig); // nothing but JSON
  expect(fig.data).toHaveLength(2);
  const train = fig.data[0] as { type: string; name: string; x: number[]; y: number[] };
  expect(train.type).toBe("bar");
  expect(train.name).toBe("train (5)");
  expect(train.x.slice(0, 3)).toEqual([8, 24, 40]);
  expect(train.y).toHaveLength(33); // bins 0..32; 512 lands alone in the last one
  expect(train.y.slice(0, 3)).toEqual([2, 1, 1]);
  expect(train.y[32]).toBe(1);
  expect((fig.data[1] as { y: number[] }).y.slice(0, 2)).toEqual([1, 1]);
  expect(fig.layout).toMatchObject({ barmode: "overlay", shapes: [{ type: "line", x0: 512, x1: 512 }] });
});
