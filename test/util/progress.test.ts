import { formatBytes, formatDuration, Progress } from "../../lib/util/progress";

// The text the bar draws, with a fake clock and a fake stream.

function fake(isTTY: boolean) {
  const out: string[] = [];
  let ms = 0;
  return {
    out,
    stream: { write: (text: string) => out.push(text), isTTY },
    now: () => ms,
    advance: (seconds: number) => (ms += seconds * 1000),
  };
}

test("one line: label, bar, count/total, percent, rate, elapsed, eta and extra fields", () => {
  const f = fake(false);
  const bar = new Progress({ total: 200, label: "epoch 1", unit: "batches", stream: f.stream, now: f.now });
  f.advance(10);
  bar.tick(50, { loss: 0.693147, lr: "5e-4" });
  expect(bar.render()).toBe(
    "epoch 1  [#####...............]  50 batches/200 batches  25.0%  5.0 batches/s  elapsed 0:10  eta 0:30  loss=0.6931  lr=5e-4",
  );
});

test("not a TTY: a plain line at most every 5 s, and always one at the end", () => {
  const f = fake(false);
  const bar = new Progress({ total: 10, unit: "it", stream: f.stream, now: f.now });
  for (let i = 0; i < 10; i++) {
    f.advance(1);
    bar.tick();
  }
  expect(f.out).toEqual(["[##########..........]  5 it/10 it  50.0%  1.0 it/s  elapsed 0:05  eta 0:05\n"]);
  bar.done();
  bar.done(); // a second call draws nothing
  expect(f.out[1]).toBe("[####################]  10 it/10 it  100.0%  1.0 it/s  elapsed 0:10\n");
  expect(f.out).toHaveLength(2);
});

test("a TTY (or inPlace): redraws one line with \\r, padded over a longer earlier line", () => {
  const f = fake(true);
  const bar = new Progress({ label: "tokenize", unit: "reviews", stream: f.stream, now: f.now });
  f.advance(1);
  bar.tick(1500, { note: "a long extra field" });
  f.advance(1);
  bar.tick(500, { note: "short" });
  bar.done();
  expect(f.out[0]).toBe("\rtokenize  1,500 reviews  1,500 reviews/s  elapsed 0:01  note=a long extra field");
  expect(f.out[1]).toBe("\rtokenize  2,000 reviews  1,000 reviews/s  elapsed 0:02  note=short".padEnd(f.out[0].length));
  expect(f.out[2].endsWith("\n")).toBe(true);

  const jupyter = fake(false);
  const inPlace = new Progress({ total: 4, stream: jupyter.stream, now: jupyter.now, inPlace: true });
  jupyter.advance(0.2);
  inPlace.tick();
  expect(jupyter.out[0].startsWith("\r[#####")).toBe(true); // 100 ms between redraws in place
});

test("bytes: sizes in kB/MB, a resumed start counts toward the total but not the rate", () => {
  const f = fake(false);
  const bar = new Progress({ total: 84_125_825, initial: 40_000_000, label: "download", unit: "B", stream: f.stream, now: f.now });
  f.advance(4);
  bar.tick(8_000_000);
  expect(bar.render()).toBe("download  [###########.........]  48.0 MB/84.1 MB  57.1%  2.0 MB/s  elapsed 0:04  eta 0:18");
});

test("no rate yet: eta is a question mark; formats", () => {
  const f = fake(false);
  expect(new Progress({ total: 3, stream: f.stream, now: f.now }).render()).toBe("[....................]  0 it/3 it  0.0%  0.0 it/s  elapsed 0:00  eta ?");
  expect(formatBytes(999)).toBe("999 B");
  expect(formatBytes(1_500)).toBe("1.5 kB");
  expect(formatBytes(27_964_286)).toBe("28.0 MB");
  expect(formatDuration(59.4)).toBe("0:59");
  expect(formatDuration(3725)).toBe("1:02:05");
});
