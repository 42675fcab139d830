import * as childProcess from "child_process";
import * as fs from "fs";
import * as path from "path";
import { checkExperimentSpec, parseExperimentArgs } from "../../scripts/experiment-options";
import { prepareImdb } from "../../lib/data/imdb-prepare";
import { vocabDir } from "../helpers/assets";
import { makeTempDir, removeTempDir, writeFakeImdbTarGz } from "../helpers/fake-imdb";

// Every flag of `npm run experiment` (and grid-search) is checked before any long work: a bad
// value is refused with a message naming the flag and the accepted range, and outputs that would
// replace a file, or cannot be written, are refused before tokenizing, loading or training.

let tmp: string;
let data: string;
let vocab: string;
beforeAll(async () => {
  tmp = makeTempDir("experiment-flags-");
  data = path.join(tmp, "imdb");
  await prepareImdb({ source: await writeFakeImdbTarGz(path.join(tmp, "fake.tar.gz"), { perFolder: 10 }), outDir: data, balanceTolerance: 0.5, log: () => undefined });
  vocab = await vocabDir();
});
afterAll(() => removeTempDir(tmp));

const parse = (args: string[]) => parseExperimentArgs(args, "help");
/** Parse and check, as scripts/experiment.ts does before anything else. */
async function check(args: string[]): Promise<void> {
  const { spec, values } = parse(["--data", data, "--tokenizer", vocab, ...args]);
  await checkExperimentSpec(spec, { force: Boolean(values.force) });
}

test.each([
  [["--epochs", "0"], '--epochs must be a whole number from 1 to 10,000, got "0"'],
  [["--train-limit=-5"], '--train-limit must be a whole number from 1 to 1,000,000,000 (reviews), got "-5"'],
  [["--val-limit", "0"], '--val-limit must be a whole number from 1 to 1,000,000,000 (reviews), got "0"'],
  [["--test-limit", "2.5"], '--test-limit must be a whole number from 1 to 1,000,000,000 (reviews), got "2.5"'],
  [["--lr", ""], '--lr needs a value, got ""'],
  [["--lr", "0"], '--lr must be a number above 0, at most 1, got "0"'],
  [["--lr", "abc"], '--lr must be a number above 0, at most 1, got "abc"'],
  [["--batch-size", "2.5"], '--batch-size must be a whole number from 1 to 65,536, got "2.5"'],
  [["--batch-size", "0"], '--batch-size must be a whole number from 1 to 65,536, got "0"'],
  [["--replicas", "0"], '--replicas must be a whole number from 1 to 64 or auto, got "0"'],
  [["--replicas", "all"], '--replicas must be a whole number from 1 to 64 or auto, got "all"'],
  [["--eval-batch-size=-1"], '--eval-batch-size must be a whole number from 1 to 65,536, got "-1"'],
  [["--lora-r", "0"], '--lora-r must be a whole number from 1 to 4,096, got "0"'],
  [["--lora-alpha=-16"], '--lora-alpha must be a number above 0, at most 1000000, got "-16"'],
  [["--lora-alpha", "Infinity"], '--lora-alpha must be a number above 0, at most 1000000, got "Infinity"'],
  [["--weight-decay=-0.1"], '--weight-decay must be a number from 0 to 1, got "-0.1"'],
  [["--seed", "1e20"], '--seed must be a whole number from 0 to 4,294,967,295, got "1e20"'],
  [["--max-length", "1"], '--max-length must be a whole number from 2 to 65,536, got "1"'],
  [["--max-steps=-1"], '--max-steps must be a whole number from 0 to 1,000,000,000 (0: no limit), got "-1"'],
  [["--bucket", "0.5"], '--bucket must be a whole number from 0 to 1,000,000 (0: no bucketing), got "0.5"'],
  [["--pad-multiple=-8"], '--pad-multiple must be a whole number from 0 to 4,096 (0: the backend\'s default), got "-8"'],
  [["--minutes", "0"], '--minutes must be a number above 0, at most 1000000, got "0"'],
  [["--backend", "tpu"], '--backend must be one of auto, tensorflow, webgpu, wasm, cpu, got "tpu"'],
  [["--lora-scaling", "rank"], '--lora-scaling must be alpha, alpha/rank or alpha/sqrt(rank), got "rank"'],
  [["--mode", "full", "--lora-r", "8"], "--lora-r applies to --mode lora only, and the mode is full"],
  [["--checkpoint-every", "100"], "--checkpoint-every needs --checkpoint-dir DIR, where the checkpoints go"],
  [["--epochs"], "Option '--epochs <value>' argument missing"],
  [["--epochs", "-1"], "Option '--epochs' argument is ambiguous"],
  [["--epoch", "2"], "Unknown option '--epoch'"],
])("%j is refused: %s", (args, message) => {
  expect(() => parse(args as string[])).toThrow(message as string);
});

test("good values pass through to the spec", () => {
  const { spec } = parse(["--epochs", "3", "--batch-size", "8", "--lr", "1e-4", "--train-limit", "100", "--max-steps", "0", "--lora-r", "16", "--lora-alpha", "0.5", "--bucket", "0"]);
  expect(spec.train).toMatchObject({ epochs: 3, batchSize: 8, learningRate: 1e-4, maxSteps: 0, bucketChunks: 0 });
  expect(spec.limits.train).toBe(100);
  expect(spec.lora).toMatchObject({ rank: 16, alpha: 0.5 });
  expect(spec.train.replicas).toBe("auto");
  expect(parse(["--replicas", "3"]).spec.train.replicas).toBe(3);
});

test("--out: a folder is refused, an existing file too unless --force; the check comes before any work", async () => {
  const folder = path.join(tmp, "results");
  fs.mkdirSync(folder);
  await expect(check(["--out", folder])).rejects.toThrow(`--out ${folder}: a folder; name the result file instead, e.g. ${path.join(folder, "quick-lora.json")}`);
  const file = path.join(folder, "mine.json");
  fs.writeFileSync(file, "my notes");
  await expect(check(["--out", file])).rejects.toThrow(`--out ${file}: the file exists; pass --force to replace it, or choose another file`);
  await expect(check(["--out", file, "--force"])).resolves.toBeUndefined();
  expect(fs.readFileSync(file, "utf8")).toBe("my notes");
  await expect(check(["--out", path.join(file, "under.json")])).rejects.toThrow(`--out ${path.join(file, "under.json")}: ${file} is a file, so nothing can be made under it`);
  await expect(check(["--out", path.join(folder, "new", "lora.json")])).resolves.toBeUndefined();
});

test("--checkpoint-dir naming a file and --log naming a folder are refused", async () => {
  const file = path.join(tmp, "not-a-folder");
  fs.writeFileSync(file, "x");
  await expect(check(["--checkpoint-dir", file])).rejects.toThrow(`--checkpoint-dir ${file}: a file, not a folder`);
  await expect(check(["--checkpoint-dir", path.join(file, "run")])).rejects.toThrow(`--checkpoint-dir ${path.join(file, "run")}: ${file} is a file, so nothing can be made under it`);
  await expect(check(["--log", tmp])).rejects.toThrow(`--log ${tmp}: a folder; name a file (lines are appended to it)`);
});

test("--max-length is checked against the model's positions, --model, --tokenizer and --data against their folders", async () => {
  await expect(check(["--max-length", "100000"])).rejects.toThrow('--max-length must be a whole number from 2 to 65,536, got "100000"');
  const backbone = path.resolve(__dirname, "..", "..", "models", "distilbert-mini-imdb");
  const positions = JSON.parse(fs.readFileSync(path.join(backbone, "config.json"), "utf8")).max_position_embeddings as number;
  await expect(check(["--max-length", String(positions + 1)])).rejects.toThrow(
    `--max-length ${positions + 1}: the model takes at most ${positions} tokens (max_position_embeddings of ${path.join(backbone, "config.json")})`,
  );
  await expect(check(["--max-length", String(positions)])).resolves.toBeUndefined();
  await expect(check(["--profile", "full", "--max-length", "513"])).rejects.toThrow("--max-length 513: the model takes at most 512 tokens (max_position_embeddings of the full profile's model)");

  const model = path.join(tmp, "model");
  fs.mkdirSync(model);
  fs.writeFileSync(path.join(model, "config.json"), JSON.stringify({ model_type: "distilbert", n_layers: 1.5 }));
  await expect(check(["--model", model])).rejects.toThrow(`${path.join(model, "config.json")}: "n_layers" must be a whole number from 1 to 256, got 1.5`);
  fs.writeFileSync(path.join(model, "config.json"), JSON.stringify({ model_type: "distilbert" }));
  await expect(check(["--model", model, "--tokenizer", vocab])).rejects.toThrow(`${model}: has no model.safetensors or model.safetensors.index.json`);
  await expect(check(["--model", model, "--tokenizer", vocab, "--random-init"])).resolves.toBeUndefined();
  await expect(check(["--model", path.join(tmp, "nowhere")])).rejects.toThrow(`--model ${path.join(tmp, "nowhere")}: no such folder`);
  await expect(check(["--tokenizer", tmp])).rejects.toThrow(`--tokenizer ${tmp}: no tokenizer.json or vocab.txt there`);
  const { spec } = parse(["--data", path.join(tmp, "nothing"), "--tokenizer", vocab]);
  await expect(checkExperimentSpec(spec)).rejects.toThrow(`--data ${path.join(tmp, "nothing")}: no prepared IMDb splits here; run \`npm run data:imdb\` first`);
});

test("--data whose split changed since preparation is refused before any work, naming the file", async () => {
  const copy = path.join(tmp, "imdb-cut");
  fs.cpSync(data, copy, { recursive: true });
  const train = path.join(copy, "train.jsonl");
  fs.writeFileSync(train, fs.readFileSync(train, "utf8").split("\n").slice(0, 12).join("\n") + "\n");
  const { spec } = parse(["--data", copy, "--tokenizer", vocab]);
  await expect(checkExperimentSpec(spec)).rejects.toThrow(`${train}: changed since it was prepared: it has 12 lines`);
  await expect(checkExperimentSpec(spec)).rejects.toThrow(`${path.join(copy, "manifest.json")} records 28 reviews`);
});

test("npm run pretrain checks its flags before the backend starts: --save-dtype, counts, --out naming a file", async () => {
  const root = path.resolve(__dirname, "..", "..");
  const pretrain = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      childProcess.execFile(path.join(root, "node_modules", ".bin", "tsx"), ["scripts/pretrain-mlm.ts", "--tokenizer", vocab, "--data", data, "--checkpoint-dir", path.join(tmp, "ck"), ...args], { cwd: root }, (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr })),
    );
  const dtype = await pretrain(["--out", path.join(tmp, "mlm"), "--save-dtype", "f16"]);
  expect([dtype.code, dtype.stdout, dtype.stderr]).toEqual([1, "", 'pretrain: --save-dtype: f32 or bf16, got "f16"\n']);
  const file = path.join(tmp, "mlm-file");
  fs.writeFileSync(file, "x");
  const out = await pretrain(["--out", file, "--batch-size", "0"]);
  expect(out.stderr).toBe('pretrain: --batch-size must be a whole number from 1 to 65536, got "0"\n');
  const outFile = await pretrain(["--out", file]);
  expect(outFile.stderr).toBe(`pretrain: --out ${file}: a file, not a folder\n`);
  expect(fs.existsSync(path.join(tmp, "ck"))).toBe(false);
});
