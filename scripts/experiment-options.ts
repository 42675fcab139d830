// Command-line flags shared by `npm run experiment` and `npm run grid-search`. Every flag is
// checked here, before any tokenizing, loading or training: a bad value stops the command at once
// with a message naming the flag and what it accepts.
import * as fs from "fs";
import * as path from "path";
import { parseArgs, ParseArgsConfig } from "util";
import { defaultSpec, Mode, MODES, Profile, ExperimentSpec, PROFILES } from "../lib/train/experiment";
import { DISTILBERT_BASE, readDistilBertConfig } from "../lib/models/distilbert";
import { assertSafetensorsDir } from "../lib/io/safetensors";
import { changedSplitError, MANIFEST_FILE, readManifest, splitFingerprint } from "../lib/data/imdb-files";
import { SPLIT_NAMES } from "../lib/data/types";
import type { LoRAScaling } from "../lib/lora/lora";
import type { BackendName } from "../lib/backend";

const BACKENDS = ["auto", "tensorflow", "webgpu", "wasm", "cpu"];

export const EXPERIMENT_HELP = `

  --mode last-layers|lora|full   what trains (default lora)
  --profile quick|full           quick: the book's 4 x 128 pretrained backbone (models/distilbert-mini-imdb),
                                 2,000 / 500 / 1,000 reviews of up to 128 tokens, batch 16, 2 epochs, each
                                 mode's own learning rate (a CPU, minutes); full: distilbert-base, 35k/5k/10k
                                 reviews, 512 tokens, the tutorial's training (default quick)
  --model DIR                    Hugging Face checkpoint folder (config.json + model.safetensors); default:
                                 the quick profile's backbone, or none for full (then random weights)
  --random-init                  the model's config.json only, weights randomly initialised (a floor)
  --tokenizer DIR                folder with tokenizer.json or vocab.txt (default: the model's, or bert-base-uncased's vocab)
  --data DIR                     prepared IMDb splits (default datasets/cache/imdb; npm run data:imdb makes them)
  --backend auto|tensorflow|webgpu|wasm|cpu
  --replicas N|auto              on the CPU backends, threads that share each batch, each with a copy of
                                 the model (default auto: one per core, at most 4; 1: the main thread alone)
  --out FILE                     write the result JSON here (e.g. results/lora.json); an existing file
                                 is refused before any work unless --force
  --force                        replace an existing --out file
  --name NAME                    the run's name in the result (default PROFILE-MODE)

  LoRA (--mode lora only): --lora-r 8 (1-4096) --lora-alpha 16 (above 0, at most 1e6)
        --lora-scaling alpha|alpha/rank|alpha/sqrt(rank)
        --lora-query --lora-key --lora-value --lora-projection --lora-mlp --lora-head
        (no layer flag: query and value, as the tutorial)

  Training: --epochs 3 --batch-size 12 --lr 5e-5 (above 0, at most 1) --weight-decay 0 (0 to 1) --seed 123
            --max-length N (2 to the model's max_position_embeddings) --max-steps N (0: no limit)
            --train-limit N --val-limit N --test-limit N (reviews, at least 1) --bucket CHUNKS (0: off)
            --eval-batch-size N --pad-multiple N (0: the backend's) --no-train-eval
  Long runs: --checkpoint-dir DIR (resumes from it) --checkpoint-every STEPS (0: at epoch ends) --log FILE.jsonl
             (appended to) --minutes M (start no epoch that would end past M minutes; the result says how many ran)
`;

type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * Parse the experiment flags (plus `extra` ones); returns the spec and every flag's value.
 * --help prints `help` and exits.
 */
export function parseExperimentArgs(argv: string[], help: string, extra: Options = {}): { spec: ExperimentSpec; values: Record<string, string | boolean | undefined> } {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...extra,
      help: { type: "boolean" },
      mode: { type: "string", default: "lora" },
      profile: { type: "string", default: "quick" },
      model: { type: "string" },
      "random-init": { type: "boolean" },
      tokenizer: { type: "string" },
      data: { type: "string" },
      backend: { type: "string", default: "auto" },
      replicas: { type: "string", default: "auto" },
      out: { type: "string" },
      force: { type: "boolean" },
      name: { type: "string" },
      "lora-r": { type: "string" },
      "lora-alpha": { type: "string" },
      "lora-scaling": { type: "string" },
      "lora-query": { type: "boolean" },
      "lora-key": { type: "boolean" },
      "lora-value": { type: "boolean" },
      "lora-projection": { type: "boolean" },
      "lora-mlp": { type: "boolean" },
      "lora-head": { type: "boolean" },
      epochs: { type: "string" },
      "batch-size": { type: "string" },
      lr: { type: "string" },
      "weight-decay": { type: "string" },
      seed: { type: "string" },
      "max-steps": { type: "string" },
      "max-length": { type: "string" },
      "train-limit": { type: "string" },
      "val-limit": { type: "string" },
      "test-limit": { type: "string" },
      bucket: { type: "string" },
      "eval-batch-size": { type: "string" },
      "pad-multiple": { type: "string" },
      "no-train-eval": { type: "boolean" },
      "checkpoint-dir": { type: "string" },
      "checkpoint-every": { type: "string" },
      log: { type: "string" },
      minutes: { type: "string" },
      backbone: { type: "string" },
    },
  });
  if (values.help) {
    process.stdout.write(help);
    process.exit(0);
  }
  for (const [flag, value] of Object.entries(values)) {
    if (typeof value === "string" && value.trim() === "") throw new Error(`--${flag} needs a value, got ""`);
  }
  const mode = values.mode as Mode;
  if (!MODES.includes(mode)) throw new Error(`--mode must be one of ${MODES.join(", ")}, got "${values.mode}"`);
  const profile = values.profile as Profile;
  if (profile !== "quick" && profile !== "full") throw new Error(`--profile must be quick or full, got "${values.profile}"`);
  if (!BACKENDS.includes(values.backend as string)) throw new Error(`--backend must be one of ${BACKENDS.join(", ")}, got "${values.backend}"`);
  /** A whole number from min to max, or undefined when the flag is absent. */
  const int = (flag: string, min: number, max: number, meaning = ""): number | undefined => {
    const value = (values as Record<string, unknown>)[flag] as string | undefined;
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!(Number.isInteger(n) && n >= min && n <= max)) {
      throw new Error(`--${flag} must be a whole number from ${min} to ${max.toLocaleString("en-US")}${meaning}, got "${value}"`);
    }
    return n;
  };
  /** A number in (min, max] (or [min, max] with `closed`), or undefined when the flag is absent. */
  const real = (flag: string, min: number, max: number, closed: boolean): number | undefined => {
    const value = (values as Record<string, unknown>)[flag] as string | undefined;
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!(Number.isFinite(n) && (closed ? n >= min : n > min) && n <= max)) {
      throw new Error(`--${flag} must be a number ${closed ? "from" : "above"} ${min}${closed ? " to" : ", at most"} ${max}, got "${value}"`);
    }
    return n;
  };
  const LIMIT = 1e9;
  const spec = defaultSpec(mode, profile);
  const layerFlags = {
    query: values["lora-query"], key: values["lora-key"], value: values["lora-value"],
    projection: values["lora-projection"], mlp: values["lora-mlp"], head: values["lora-head"],
  };
  const anyLayer = Object.values(layerFlags).some(Boolean);
  if (mode !== "lora") {
    const given = Object.keys(values).filter((flag) => flag.startsWith("lora-"));
    if (given.length > 0) throw new Error(`--${given[0]} applies to --mode lora only, and the mode is ${mode}`);
  }
  spec.lora = {
    rank: int("lora-r", 1, 4096) ?? spec.lora.rank,
    alpha: real("lora-alpha", 0, 1e6, false) ?? spec.lora.alpha,
    scaling: (values["lora-scaling"] as LoRAScaling | undefined) ?? spec.lora.scaling,
    flags: anyLayer ? Object.fromEntries(Object.entries(layerFlags).map(([k, v]) => [k, Boolean(v)])) : spec.lora.flags,
  };
  if (!["alpha", "alpha/rank", "alpha/sqrt(rank)"].includes(spec.lora.scaling)) throw new Error(`--lora-scaling must be alpha, alpha/rank or alpha/sqrt(rank), got "${spec.lora.scaling}"`);
  spec.modelDir = values.model ?? spec.modelDir;
  if (values["random-init"] && !spec.modelDir) throw new Error("--random-init takes the shape from --model DIR: give the folder too");
  spec.randomInit = Boolean(values["random-init"]);
  spec.tokenizerDir = values.tokenizer ?? values.model ?? spec.tokenizerDir;
  spec.dataDir = values.data ?? spec.dataDir;
  spec.backend = values.backend as BackendName | "auto";
  spec.out = values.out ?? null;
  spec.name = values.name ?? spec.name;
  spec.backbone = values.backbone;
  const seed = int("seed", 0, 2 ** 32 - 1);
  spec.seed = seed ?? spec.seed;
  spec.maxLength = int("max-length", 2, 65536) ?? spec.maxLength;
  spec.limits = {
    train: int("train-limit", 1, LIMIT, " (reviews)") ?? spec.limits.train,
    val: int("val-limit", 1, LIMIT, " (reviews)") ?? spec.limits.val,
    test: int("test-limit", 1, LIMIT, " (reviews)") ?? spec.limits.test,
  };
  spec.train = {
    ...spec.train,
    epochs: int("epochs", 1, 10000) ?? spec.train.epochs,
    batchSize: int("batch-size", 1, 65536) ?? spec.train.batchSize,
    learningRate: real("lr", 0, 1, false) ?? spec.train.learningRate,
    weightDecay: real("weight-decay", 0, 1, true) ?? spec.train.weightDecay,
    seed: seed ?? spec.train.seed,
    maxSteps: int("max-steps", 0, LIMIT, " (0: no limit)") ?? spec.train.maxSteps,
    bucketChunks: int("bucket", 0, 1_000_000, " (0: no bucketing)") ?? spec.train.bucketChunks,
    evalBatchSize: int("eval-batch-size", 1, 65536) ?? spec.train.evalBatchSize,
    padMultiple: int("pad-multiple", 0, 4096, " (0: the backend's default)") ?? spec.train.padMultiple,
    checkpointEvery: int("checkpoint-every", 0, LIMIT, " (0: at epoch ends only)") ?? spec.train.checkpointEvery,
    evaluateTrain: !values["no-train-eval"],
    replicas: values.replicas === "auto" ? "auto" : int("replicas", 1, 64, " or auto")!,
  };
  if (values["checkpoint-every"] !== undefined && values["checkpoint-dir"] === undefined) throw new Error("--checkpoint-every needs --checkpoint-dir DIR, where the checkpoints go");
  spec.checkpointDir = values["checkpoint-dir"] ?? null;
  spec.logFile = values.log ?? null;
  spec.minutes = real("minutes", 0, 1e6, false) ?? null;
  return { spec, values: values as Record<string, string | boolean | undefined> };
}

/** The nearest existing folder above `p`; throws when a file stands where a folder must be made. */
function nearestFolder(flag: string, p: string): string {
  let at = path.dirname(path.resolve(p));
  for (;;) {
    const stat = fs.statSync(at, { throwIfNoEntry: false });
    if (stat) {
      if (!stat.isDirectory()) throw new Error(`--${flag} ${p}: ${at} is a file, so nothing can be made under it`);
      return at;
    }
    const up = path.dirname(at);
    if (up === at) return at;
    at = up;
  }
}

/**
 * Check what the spec names on disk, before any long work: the output is not a folder and replaces
 * no file without `force`; the checkpoint folder and log file can be made; the model's config.json
 * is valid, its weights there and --max-length within its positions; the tokenizer and data folders
 * hold what they must. Throws an error naming the flag.
 */
export async function checkExperimentSpec(spec: ExperimentSpec, options: { force?: boolean; checkOut?: boolean } = {}): Promise<void> {
  if (spec.out && (options.checkOut ?? true)) {
    nearestFolder("out", spec.out);
    const stat = fs.statSync(spec.out, { throwIfNoEntry: false });
    if (stat?.isDirectory()) throw new Error(`--out ${spec.out}: a folder; name the result file instead, e.g. ${path.join(spec.out, `${spec.name}.json`)}`);
    if (stat && !options.force) throw new Error(`--out ${spec.out}: the file exists; pass --force to replace it, or choose another file`);
  }
  if (spec.checkpointDir) {
    nearestFolder("checkpoint-dir", spec.checkpointDir);
    const stat = fs.statSync(spec.checkpointDir, { throwIfNoEntry: false });
    if (stat && !stat.isDirectory()) throw new Error(`--checkpoint-dir ${spec.checkpointDir}: a file, not a folder`);
  }
  if (spec.logFile) {
    nearestFolder("log", spec.logFile);
    const stat = fs.statSync(spec.logFile, { throwIfNoEntry: false });
    if (stat?.isDirectory()) throw new Error(`--log ${spec.logFile}: a folder; name a file (lines are appended to it)`);
  }
  let maxPositions = { ...DISTILBERT_BASE, ...PROFILES[spec.profile].model }.maxPositionEmbeddings;
  let where = `the ${spec.profile} profile's model`;
  if (spec.modelDir) {
    if (!fs.statSync(spec.modelDir, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`--model ${spec.modelDir}: no such folder`);
    maxPositions = readDistilBertConfig(spec.modelDir).maxPositionEmbeddings; // checks config.json, naming it
    where = path.join(spec.modelDir, "config.json");
    if (!spec.randomInit) assertSafetensorsDir(spec.modelDir);
  }
  if (spec.maxLength > maxPositions) {
    throw new Error(`--max-length ${spec.maxLength}: the model takes at most ${maxPositions} tokens (max_position_embeddings of ${where})`);
  }
  const hasVocab = ["tokenizer.json", "vocab.txt"].some((f) => fs.existsSync(path.join(spec.tokenizerDir, f)));
  if (!hasVocab) throw new Error(`--tokenizer ${spec.tokenizerDir}: no tokenizer.json or vocab.txt there`);
  const manifest = await readManifest(spec.dataDir);
  if (!manifest) throw new Error(`--data ${spec.dataDir}: no prepared IMDb splits here; run \`npm run data:imdb\` first`);
  // Each split's bytes against the manifest (hashed once; the token cache reuses the result).
  for (const split of SPLIT_NAMES) {
    const entry = manifest.splits[split];
    if (!fs.existsSync(path.join(spec.dataDir, entry.file))) continue; // a cache travelling without its text
    const now = await splitFingerprint(split, spec.dataDir);
    if (now.sha256 !== entry.sha256 || now.bytes !== entry.bytes) throw changedSplitError(now.file, now, entry, path.join(spec.dataDir, MANIFEST_FILE));
  }
}
