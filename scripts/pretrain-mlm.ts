// Pretrain a stand-in for distilbert-base-uncased with the masked-language-model objective on the
// text of IMDb's 35,000 training reviews (never validation or test), checkpointing as it goes; a
// run given --minutes stops on time and the next continues. The model is saved as a Hugging Face
// folder that `npm run experiment -- --model DIR` fine-tunes.
//
//   npm run pretrain -- --size small --minutes 9 --checkpoint-dir models/mlm-small/checkpoint --out models/mlm-small
import * as fs from "fs";
import * as path from "path";
import { parseCli } from "./cli";
import { initBackend, BackendName } from "../lib/backend";
import { DistilBertForMaskedLM, distilBertConfig, DistilBertConfig } from "../lib/models/distilbert";
import { loadTokenizer } from "../lib/data/tokenizer";
import { loadTokenizedSplit } from "../lib/data/token-cache";
import { DEFAULT_IMDB_DIR } from "../lib/data/imdb-files";
import { manualSeed } from "../lib/nn/random";
import { countParameters } from "../lib/nn/parameters";
import { pretrainMlm } from "../lib/train/mlm";
import { writeFileAtomic } from "../lib/io/files";

const USAGE = `usage: npm run pretrain -- [flags]

  --size base|small|mini|tiny   base: distilbert-base's shape (6 x 768); small: 4 layers x 256 (1024
                           inside); mini: 4 x 128 (512 inside), the book's quick-profile backbone;
                           tiny: 2 x 128 (default small)
  --tokenizer DIR          folder with vocab.txt or tokenizer.json (required)
  --data DIR               prepared IMDb splits (default datasets/cache/imdb); only the train split is read
  --max-length N           tokens per review, [CLS] and [SEP] included (default 128)
  --batch-size N           (default 32)   --lr X (default 2e-4)   --weight-decay X (default 0.01)
  --warmup N               steps over which the learning rate rises from 0 to --lr (default 0)
  --epochs N               (default 40)   --max-steps N (default 0: no limit)   --seed N (default 1)
  --minutes M              stop (with a checkpoint) after M minutes; run again to continue
  --checkpoint-dir DIR     where the run's state goes, and where a run continues from (required)
  --init DIR               start from the weights of a model this command saved (f32 or bf16, sharded
                           or not) with a fresh optimizer: how a run continues on a machine its
                           checkpoint cannot reach (the GPU machine's transfers are size-limited)
  --checkpoint-every N     steps between checkpoints (default 500)
  --out DIR                save the model here as a Hugging Face folder when the run stops (required)
  --save-dtype f32|bf16    the saved weights' precision (default f32; bf16 halves the files)
  --shard-mb N             split the saved weights into files of at most N MiB (default: one file)
  --backend auto|webgpu|wasm|cpu|tensorflow`;

const SIZES: Record<string, Partial<DistilBertConfig>> = {
  base: {},
  small: { dim: 256, nLayers: 4, nHeads: 4, hiddenDim: 1024 },
  mini: { dim: 128, nLayers: 4, nHeads: 2, hiddenDim: 512 },
  tiny: { dim: 128, nLayers: 2, nHeads: 2, hiddenDim: 512 },
};

async function main(): Promise<void> {
  const { values } = parseCli(
    process.argv.slice(2),
    {
      size: { type: "string", default: "small" }, tokenizer: { type: "string" }, data: { type: "string" }, "max-length": { type: "string", default: "128" },
      "batch-size": { type: "string", default: "32" }, lr: { type: "string", default: "2e-4" }, "weight-decay": { type: "string", default: "0.01" }, warmup: { type: "string", default: "0" },
      epochs: { type: "string", default: "40" }, "max-steps": { type: "string", default: "0" }, seed: { type: "string", default: "1" },
      minutes: { type: "string" }, "checkpoint-dir": { type: "string" }, "checkpoint-every": { type: "string", default: "500" },
      out: { type: "string" }, backend: { type: "string", default: "auto" }, "save-dtype": { type: "string", default: "f32" }, "shard-mb": { type: "string" }, init: { type: "string" },
    },
    USAGE,
  );
  const size = SIZES[values.size as string];
  if (!size) throw new Error(`--size: one of ${Object.keys(SIZES).join(", ")}, got "${values.size}"\n${USAGE}`);
  for (const flag of ["tokenizer", "checkpoint-dir", "out"]) if (!values[flag]) throw new Error(`--${flag} is required\n${USAGE}`);
  // Every flag is checked here, before the backend starts or a review is tokenized.
  const RANGES: Record<string, [number, number, boolean]> = {
    // flag: [min, max, whole]
    "max-length": [2, 65536, true], "batch-size": [1, 65536, true], lr: [1e-12, 1, false], "weight-decay": [0, 1, false],
    warmup: [0, 1e9, true], epochs: [1, 1e6, true], "max-steps": [0, 1e9, true], seed: [0, 2 ** 32 - 1, true],
    "checkpoint-every": [0, 1e9, true], minutes: [1e-6, 1e6, false], "shard-mb": [1, 1e6, false],
  };
  const number = (flag: string) => {
    const [min, max, whole] = RANGES[flag];
    const n = Number(values[flag]);
    if (!(Number.isFinite(n) && n >= min && n <= max && (!whole || Number.isInteger(n)))) {
      throw new Error(`--${flag} must be ${whole ? "a whole number" : "a number"} from ${min} to ${max}, got "${values[flag]}"`);
    }
    return n;
  };
  for (const flag of Object.keys(RANGES)) if (values[flag] !== undefined) number(flag);
  const saveDtype = String(values["save-dtype"]).toUpperCase();
  if (saveDtype !== "F32" && saveDtype !== "BF16") throw new Error(`--save-dtype: f32 or bf16, got "${values["save-dtype"]}"`);
  const BACKENDS = ["auto", "webgpu", "wasm", "cpu", "tensorflow"];
  if (!BACKENDS.includes(values.backend as string)) throw new Error(`--backend must be one of ${BACKENDS.join(", ")}, got "${values.backend}"`);
  for (const flag of ["out", "checkpoint-dir"]) {
    if (fs.statSync(values[flag] as string, { throwIfNoEntry: false })?.isFile()) throw new Error(`--${flag} ${values[flag]}: a file, not a folder`);
  }
  if (values.init && !fs.existsSync(path.join(values.init as string, "pretraining.json"))) {
    throw new Error(`--init ${values.init}: no pretraining.json there (not a folder this command saved)`);
  }
  const backend = await initBackend(values.backend as BackendName | "auto");
  const tokenizer = await loadTokenizer(values.tokenizer as string);
  const maxLength = number("max-length");
  const { data } = await loadTokenizedSplit("train", tokenizer, { dir: (values.data as string | undefined) ?? DEFAULT_IMDB_DIR, maxLength });
  manualSeed(number("seed"));
  const init = values.init as string | undefined;
  const earlier = init ? (JSON.parse(fs.readFileSync(path.join(init, "pretraining.json"), "utf8")) as { steps_total?: number; steps: number; size: string }) : null;
  if (earlier && earlier.size !== values.size) throw new Error(`--init ${init} holds a ${earlier.size} model, not ${values.size}`);
  const model = init ? DistilBertForMaskedLM.fromPretrained(init, { log: console.log }) : new DistilBertForMaskedLM(distilBertConfig({ ...size, vocabSize: tokenizer.vocabSize, padTokenId: tokenizer.padId }));
  const config = model.config;
  if (config.vocabSize !== tokenizer.vocabSize) throw new Error(`--init ${init}: its vocabulary has ${config.vocabSize} ids, the tokenizer's ${tokenizer.vocabSize}`);
  console.log(`pretraining a ${values.size} DistilBERT (${countParameters(model).toLocaleString("en-US")} parameters) on ${data.labels.length.toLocaleString("en-US")} training reviews of up to ${maxLength} tokens, ${backend.device}`);
  const checkpointDir = values["checkpoint-dir"] as string;
  const result = await pretrainMlm(model, data, {
    checkpointDir,
    timeBudgetSeconds: values.minutes ? number("minutes") * 60 : undefined,
    config: {
      batchSize: number("batch-size"), learningRate: number("lr"), warmupSteps: number("warmup"), weightDecay: number("weight-decay"), epochs: number("epochs"),
      maxSteps: number("max-steps"), seed: number("seed"), checkpointEvery: number("checkpoint-every"),
      padMultiple: backend.name === "webgpu" ? 64 : 1,
      masking: { maskId: tokenizer.maskId, vocabSize: tokenizer.vocabSize, specialIds: [tokenizer.padId, tokenizer.clsId, tokenizer.sepId] },
    },
  });
  const out = values.out as string;
  await model.save(out, { dtype: saveDtype, maxShardBytes: values["shard-mb"] ? number("shard-mb") * 2 ** 20 : undefined });
  const steps = result.history.length;
  const tail = result.history.slice(-Math.min(100, steps));
  const summary = {
    backbone: `DistilBERT ${values.size} (${config.nLayers} x ${config.dim}), MLM-pretrained ${init ? `(continued from ${init})` : "from random initialisation"} on the 35,000 IMDb training reviews only, ${maxLength} tokens`,
    size: values.size, parameters: countParameters(model), max_length: maxLength, steps, epochs_done: result.epochs, finished: result.finished,
    // Steps of this run plus those of the runs it was --init'ed from (each of those restarted Adam).
    steps_total: steps + (earlier ? (earlier.steps_total ?? earlier.steps) : 0), initialized_from: init ?? null,
    train_seconds: result.seconds, last_100_steps_mean_loss: tail.reduce((s, h) => s + h.loss, 0) / Math.max(1, tail.length),
    backend: backend.name, device: backend.device, date: new Date().toISOString(),
  };
  await writeFileAtomic(path.join(out, "pretraining.json"), JSON.stringify(summary, null, 2) + "\n");
  fs.copyFileSync(path.join(checkpointDir, "mlm-loss.json"), path.join(out, "mlm-loss.json"));
  console.log(`saved ${out} (${steps} steps, ${result.finished ? "finished" : "run again to continue"})`);
  model.dispose();
}

main().catch((error: Error) => {
  console.error(`pretrain: ${error.message}`);
  process.exit(1);
});
