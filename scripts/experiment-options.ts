// Command-line flags shared by `npm run experiment` and `npm run grid-search`.
import { parseArgs, ParseArgsConfig } from "util";
import { defaultSpec, Mode, MODES, Profile, ExperimentSpec } from "../lib/train/experiment";
import type { LoRAScaling } from "../lib/lora/lora";
import type { BackendName } from "../lib/backend";

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
  --out FILE                     write the result JSON here (e.g. results/lora.json)
  --name NAME                    the run's name in the result (default PROFILE-MODE)

  LoRA: --lora-r 8 --lora-alpha 16 --lora-scaling alpha|alpha/rank|alpha/sqrt(rank)
        --lora-query --lora-key --lora-value --lora-projection --lora-mlp --lora-head
        (no layer flag: query and value, as the tutorial)

  Training: --epochs 3 --batch-size 12 --lr 5e-5 --weight-decay 0 --seed 123 --max-steps N --max-length N
            --train-limit N --val-limit N --test-limit N --bucket CHUNKS --eval-batch-size N --pad-multiple N --no-train-eval
  Long runs: --checkpoint-dir DIR (resumes from it) --checkpoint-every STEPS --log FILE.jsonl
             --minutes M (start no epoch that would end past M minutes; the result says how many ran)
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
      out: { type: "string" },
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
  const mode = values.mode as Mode;
  if (!MODES.includes(mode)) throw new Error(`--mode must be one of ${MODES.join(", ")}, got "${values.mode}"`);
  const profile = values.profile as Profile;
  if (profile !== "quick" && profile !== "full") throw new Error(`--profile must be quick or full, got "${values.profile}"`);
  const num = (flag: string, value: string | undefined): number | undefined => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isFinite(n)) throw new Error(`--${flag} must be a number, got "${value}"`);
    return n;
  };
  const spec = defaultSpec(mode, profile);
  const layerFlags = {
    query: values["lora-query"], key: values["lora-key"], value: values["lora-value"],
    projection: values["lora-projection"], mlp: values["lora-mlp"], head: values["lora-head"],
  };
  const anyLayer = Object.values(layerFlags).some(Boolean);
  spec.lora = {
    rank: num("lora-r", values["lora-r"]) ?? spec.lora.rank,
    alpha: num("lora-alpha", values["lora-alpha"]) ?? spec.lora.alpha,
    scaling: (values["lora-scaling"] as LoRAScaling | undefined) ?? spec.lora.scaling,
    flags: anyLayer ? Object.fromEntries(Object.entries(layerFlags).map(([k, v]) => [k, Boolean(v)])) : spec.lora.flags,
  };
  if (!["alpha", "alpha/rank", "alpha/sqrt(rank)"].includes(spec.lora.scaling)) throw new Error(`--lora-scaling must be alpha, alpha/rank or alpha/sqrt(rank)`);
  spec.modelDir = values.model ?? spec.modelDir;
  if (values["random-init"] && !spec.modelDir) throw new Error("--random-init takes the shape from --model DIR: give the folder too");
  spec.randomInit = Boolean(values["random-init"]);
  spec.tokenizerDir = values.tokenizer ?? values.model ?? spec.tokenizerDir;
  spec.dataDir = values.data ?? spec.dataDir;
  spec.backend = values.backend as BackendName | "auto";
  spec.out = values.out ?? null;
  spec.name = values.name ?? spec.name;
  spec.backbone = values.backbone;
  spec.seed = num("seed", values.seed) ?? spec.seed;
  spec.maxLength = num("max-length", values["max-length"]) ?? spec.maxLength;
  spec.limits = {
    train: num("train-limit", values["train-limit"]) ?? spec.limits.train,
    val: num("val-limit", values["val-limit"]) ?? spec.limits.val,
    test: num("test-limit", values["test-limit"]) ?? spec.limits.test,
  };
  spec.train = {
    ...spec.train,
    epochs: num("epochs", values.epochs) ?? spec.train.epochs,
    batchSize: num("batch-size", values["batch-size"]) ?? spec.train.batchSize,
    learningRate: num("lr", values.lr) ?? spec.train.learningRate,
    weightDecay: num("weight-decay", values["weight-decay"]) ?? spec.train.weightDecay,
    seed: num("seed", values.seed) ?? spec.train.seed,
    maxSteps: num("max-steps", values["max-steps"]) ?? spec.train.maxSteps,
    bucketChunks: num("bucket", values.bucket) ?? spec.train.bucketChunks,
    evalBatchSize: num("eval-batch-size", values["eval-batch-size"]) ?? spec.train.evalBatchSize,
    padMultiple: num("pad-multiple", values["pad-multiple"]) ?? spec.train.padMultiple,
    checkpointEvery: num("checkpoint-every", values["checkpoint-every"]) ?? spec.train.checkpointEvery,
    evaluateTrain: !values["no-train-eval"],
  };
  spec.checkpointDir = values["checkpoint-dir"] ?? null;
  spec.logFile = values.log ?? null;
  spec.minutes = num("minutes", values.minutes) ?? null;
  return { spec, values: values as Record<string, string | boolean | undefined> };
}

