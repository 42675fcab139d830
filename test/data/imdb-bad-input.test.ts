import * as fs from "fs";
import * as path from "path";
import * as zlib from "zlib";
import { prepareImdb } from "../../lib/data/imdb-prepare";
import { listFiles, makeTempDir, removeTempDir, writeFakeImdbFolder, writeFakeImdbTarGz } from "../helpers/fake-imdb";
import type { FakeImdbOptions } from "../helpers/fake-imdb";

// Each kind of bad input stops preparation with an error naming the file, and writes nothing.

let tmp: string;
beforeAll(() => (tmp = makeTempDir()));
afterAll(() => removeTempDir(tmp));

let counter = 0;
/** Prepare from `source` into a fresh folder; expect `message` and an untouched output folder. */
async function expectFailure(source: string, message: RegExp): Promise<void> {
  const out = path.join(tmp, `out-${counter++}`);
  await expect(prepareImdb({ source, outDir: out, balanceTolerance: 0.5, log: () => undefined })).rejects.toThrow(message);
  expect(listFiles(out)).toEqual([]);
}

const archiveWith = (options: FakeImdbOptions) => writeFakeImdbTarGz(path.join(tmp, `bad-${counter++}.tar.gz`), options);
const folderWith = (options: FakeImdbOptions) => writeFakeImdbFolder(path.join(tmp, `bad-${counter++}`), options);

test("a file that is not gzip at all", async () => {
  const file = path.join(tmp, "garbage.tar.gz");
  fs.writeFileSync(file, "this is not an archive\n".repeat(100));
  await expectFailure(file, /garbage\.tar\.gz: cannot read the archive, is it a complete \.tar\.gz\? \(incorrect header check\)/);
});

test("a truncated archive", async () => {
  const whole = fs.readFileSync(await archiveWith({}));
  const file = path.join(tmp, "truncated.tar.gz");
  fs.writeFileSync(file, whole.subarray(0, Math.floor(whole.length / 2)));
  await expectFailure(file, /truncated\.tar\.gz: cannot read the archive, is it a complete \.tar\.gz\? \(unexpected end of file\)/);
});

test("a gzip that holds no tar", async () => {
  const file = path.join(tmp, "not-tar.tar.gz");
  fs.writeFileSync(file, zlib.gzipSync(Buffer.alloc(2048, 120)));
  await expectFailure(file, /not-tar\.tar\.gz: cannot read the archive, is it a complete \.tar\.gz\? \(Invalid tar header/);
});

test("a missing source", async () => {
  await expectFailure(path.join(tmp, "nowhere.tar.gz"), /nowhere\.tar\.gz: no such file or folder/);
});

test("an archive or folder without one of train/test × pos/neg", async () => {
  await expectFailure(await archiveWith({ omit: ["aclImdb/test/neg/"] }), /bad-\d+\.tar\.gz: no reviews in test\/neg/);
  await expectFailure(folderWith({ omit: ["aclImdb/train/pos/"] }), /not an aclImdb folder: train\/pos is missing/);
  const empty = path.join(tmp, "empty-folder");
  fs.mkdirSync(empty);
  await expectFailure(empty, /empty-folder: not an aclImdb folder: train\/pos is missing/);
});

test("an empty review", async () => {
  const entries = { "aclImdb/train/pos/100_8.txt": "" };
  await expectFailure(await archiveWith({ entries }), /\.tar\.gz: aclImdb\/train\/pos\/100_8\.txt: empty review/);
  await expectFailure(folderWith({ entries: { "aclImdb/test/neg/100_2.txt": "  \n" } }), /test\/neg\/100_2\.txt: empty review/);
});

test("bytes that are not UTF-8", async () => {
  const latin1 = Buffer.from("Caf\xe9 au lait, a fine film", "latin1"); // é as one byte 0xE9
  await expectFailure(await archiveWith({ entries: { "aclImdb/test/pos/100_9.txt": latin1 } }), /aclImdb\/test\/pos\/100_9\.txt: not valid UTF-8/);
  await expectFailure(folderWith({ entries: { "aclImdb/train/neg/7_1.txt": latin1 } }), /train\/neg\/7_1\.txt: not valid UTF-8/);
});

test("a file name whose rating cannot be read, or does not fit its label", async () => {
  await expectFailure(
    await archiveWith({ entries: { "aclImdb/train/pos/great.txt": "Fine." } }),
    /aclImdb\/train\/pos\/great\.txt: cannot read the rating from the file name \(expected <id>_<rating>\.txt\)/,
  );
  await expectFailure(
    folderWith({ entries: { "aclImdb/test/neg/12_9.txt": "Awful." } }),
    /test\/neg\/12_9\.txt: rating 9 does not fit label neg \(neg 1-4, pos 7-10\)/,
  );
});

test("a review folder whose label cannot be read", async () => {
  await expectFailure(
    await archiveWith({ entries: { "aclImdb/train/maybe/1_5.txt": "So-so." } }),
    /aclImdb\/train\/maybe\/1_5\.txt: cannot read a label from the path: folder "maybe" is neither pos nor neg/,
  );
});

test("an unbalanced split", async () => {
  const out = path.join(tmp, "out-unbalanced");
  const source = await archiveWith({ perFolder: 25 });
  await expect(prepareImdb({ source, outDir: out, log: () => undefined })).rejects.toThrow(/split \w+ is unbalanced/);
  expect(listFiles(out)).toEqual([]);
});

test("bad input leaves earlier good output as it was, and still trusted", async () => {
  const out = path.join(tmp, "out-kept");
  const good = await archiveWith({});
  await prepareImdb({ source: good, outDir: out, balanceTolerance: 0.5, log: () => undefined });
  const before = listFiles(out).map((f) => fs.readFileSync(path.join(out, f)));
  const bad = await archiveWith({ entries: { "aclImdb/train/pos/1_x.txt": "?" } });
  await expect(prepareImdb({ source: bad, outDir: out, balanceTolerance: 0.5, log: () => undefined })).rejects.toThrow(/1_x\.txt/);
  expect(listFiles(out).map((f) => fs.readFileSync(path.join(out, f)))).toEqual(before);
  const again = await prepareImdb({ source: good, outDir: out, balanceTolerance: 0.5, log: () => undefined });
  expect(again.skipped).toBe(true);
});
