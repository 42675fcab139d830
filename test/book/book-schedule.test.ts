import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { runAll } from "../../scripts/build-book";
import { readBookConfig } from "../../scripts/book/config";

// `npm run book` executes the notebooks two at a time, each after the chapters whose results it
// reads ("parallel" and "after" in book.config.json).

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test("at most `parallel` notebooks run at once, each after the ones it reads, in the book's order otherwise", async () => {
  const started: string[] = [];
  const finished: string[] = [];
  let running = 0;
  let most = 0;
  const length: Record<string, number> = { a: 30, b: 60, c: 10, d: 10, e: 10 };
  await runAll(["a", "b", "c", "d", "e"], new Map([["d", ["a", "b"]], ["e", ["d"]]]), 2, async (nb) => {
    started.push(nb);
    most = Math.max(most, ++running);
    await sleep(length[nb]);
    running--;
    finished.push(nb);
  });
  expect(most).toBe(2);
  expect(started).toEqual(["a", "b", "c", "d", "e"]);
  expect(finished.indexOf("d")).toBeGreaterThan(finished.indexOf("b"));
  expect(started.indexOf("e")).toBeGreaterThan(finished.indexOf("d"));
});

test("a failure stops new starts and is thrown once the running notebooks end", async () => {
  const started: string[] = [];
  const run = runAll(["a", "b", "c"], new Map(), 2, async (nb) => {
    started.push(nb);
    await sleep(nb === "a" ? 5 : 30);
    if (nb === "a") throw new Error("a failed");
  });
  await expect(run).rejects.toThrow("a failed");
  expect(started).toEqual(["a", "b"]);
});

test("the book's config: parallel and after are checked", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "book-config-"));
  const write = (config: object) => {
    fs.writeFileSync(path.join(dir, "book.json"), JSON.stringify(config));
    return path.join(dir, "book.json");
  };
  const chapters = [{ file: "a.ipynb" }, { file: "b.ipynb", after: ["a.ipynb"] }];
  const config = readBookConfig(write({ title: "t", parallel: 2, chapters }));
  expect(config.parallel).toBe(2);
  expect(config.after.get(path.join(dir, "b.ipynb"))).toEqual([path.join(dir, "a.ipynb")]);
  expect(readBookConfig(write({ title: "t", chapters })).parallel).toBe(1);
  expect(() => readBookConfig(write({ title: "t", parallel: 0, chapters }))).toThrow(/"parallel" must be a whole number of notebooks, 1 or more; got 0/);
  expect(() => readBookConfig(write({ title: "t", chapters: [{ file: "a.ipynb", after: ["c.ipynb"] }] }))).toThrow(/chapters\[0\]\.after: c\.ipynb is not another chapter of the book/);
  expect(() => readBookConfig(write({ title: "t", chapters: [{ file: "a.ipynb", after: "b.ipynb" }] }))).toThrow(/chapters\[0\]\.after must be a list of chapter files/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test("book.config.json runs chapter 05 after 01-04, and 02 after 01", () => {
  const config = readBookConfig(path.join(__dirname, "..", "..", "book.config.json"));
  const nb = (name: string) => path.join(__dirname, "..", "..", "notebooks", name);
  expect(config.after.get(nb("05_results.ipynb"))!.map((f) => path.basename(f))).toEqual([
    "01_finetune_last_layers.ipynb", "02_finetune_with_lora.ipynb", "03_grid_search.ipynb", "04_finetune_all_layers.ipynb",
  ]);
  expect(config.after.get(nb("02_finetune_with_lora.ipynb"))!.map((f) => path.basename(f))).toEqual(["01_finetune_last_layers.ipynb"]);
  expect(config.after.get(nb("04_finetune_all_layers.ipynb"))).toEqual([]);
});
