// The IMDb playground, live in the reader's browser: the book's small pretrained backbone gets
// LoRA on its attention's query and value layers and is fine-tuned, with its classifier head, on a
// few hundred IMDb training reviews while the loss and validation accuracy draw. A text box shows
// the classifier's probability for the reader's own review before and after, and the adapter
// downloads in Hugging Face PEFT's format. The model, LoRA, the training step, the tokenizer and the
// adapter files are lib/'s code, bundled for the browser by the book's build (scripts/book/live.ts);
// what the page loads is written by imdb-playground-assets.ts. What a run found is left on
// `window.imdbPlayground`, for the book's tests.
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-webgpu";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import type { DistilBertForSequenceClassification } from "../../../lib/models/distilbert";
import { parseSafetensors } from "../../../lib/io/safetensors-format";
import { tokenizerFromText, Tokenizer } from "../../../lib/data/wordpiece";
import { adapterFiles } from "../../../lib/lora/peft";
import { printModel } from "../../../lib/nn/module";
import { countParameters } from "../../../lib/nn/parameters";
import { permutation } from "../../../lib/nn/random";
import { Adam } from "../../../lib/train/adam";
import { queueTrainStep, readStep, QueuedStep } from "../../../lib/train/step";
import { pct } from "../../../lib/util/format";
import { PLAYGROUND_FILES, PlaygroundManifest, liveAssetKey, playgroundModel, splitReviews } from "./imdb-playground-model";
import { collate } from "../../../lib/data/batches";
import type { TokenizedSplit } from "../../../lib/data/tokenized";

const NAME = "imdb-playground";
const ASSETS = `assets/live/${NAME}/`;
const EXAMPLE = "A gentle, funny film with two wonderful performances. I smiled all the way through and would happily watch it again.";

/** What the page found: read by the book's browser test. */
export interface PlaygroundRun {
  backend: string;
  printed: string;
  trainable: number;
  total: number;
  /** Training loss of every step, and validation accuracy before training and after each epoch. */
  losses: number[];
  valAccuracy: number[];
  samplesPerSecond: number;
  /** The review in the text box when training ended: its token ids, and logits before and after. */
  probe: { text: string; ids: number[]; logitsBefore: number[]; logitsAfter: number[] };
  /** The example review's logits as the page opened (the head still random): the same on every backend. */
  exampleLogits: number[];
  /** Files offered by "Download adapter", by name. */
  downloads: string[];
  /** Loaded and ready to train; trained. */
  ready: boolean;
  done: boolean;
  error: string | null;
}

interface PlotlyApi {
  react(element: HTMLElement, data: object[], layout: object, config?: object): Promise<unknown>;
}

interface Loaded {
  manifest: PlaygroundManifest;
  tokenizer: Tokenizer;
  model: DistilBertForSequenceClassification;
  train: TokenizedSplit;
  val: TokenizedSplit;
}

const root = document.querySelector<HTMLElement>(`[data-live='${NAME}']`);
if (root) void setUp(root);

async function setUp(root: HTMLElement): Promise<void> {
  root.innerHTML = `
    <p class="live-status" aria-live="polite">Loading the backbone (about 10 MB)...</p>
    <p class="live-backend"></p>
    <label class="live-review">Your review<br><textarea name="review" rows="4">${EXAMPLE}</textarea></label>
    <p class="live-prediction"></p>
    <div class="live-controls">
      <button type="button" name="train" disabled>Fine-tune with LoRA</button>
      <button type="button" name="download" disabled>Download adapter</button>
    </div>
    <div class="live-curves"></div>
    <details><summary>The model, as <code>printModel</code> prints it</summary><pre class="live-model"></pre></details>`;
  const run: PlaygroundRun = {
    backend: "",
    printed: "",
    trainable: 0,
    total: 0,
    losses: [],
    valAccuracy: [],
    samplesPerSecond: 0,
    probe: { text: "", ids: [], logitsBefore: [], logitsAfter: [] },
    exampleLogits: [],
    downloads: [],
    ready: false,
    done: false,
    error: null,
  };
  (window as unknown as { imdbPlayground: PlaygroundRun }).imdbPlayground = run;
  const status = (text: string) => (root.querySelector(".live-status")!.textContent = text);
  try {
    run.backend = await startBackend();
    const chosen = new URLSearchParams(location.search).has("backend");
    const note = run.backend === "webgpu" || chosen ? "" : " (this browser offers no WebGPU: slower, but the same computation)";
    root.querySelector(".live-backend")!.textContent = `Running on tfjs's ${run.backend} backend${note}.`;
    const loaded = await load();
    const { model, manifest } = loaded;
    run.printed = printModel(model);
    run.trainable = countParameters(model, { trainableOnly: true });
    run.total = countParameters(model);
    root.querySelector(".live-model")!.textContent = `${run.printed}\ntrainable: ${run.trainable.toLocaleString("en-US")} of ${run.total.toLocaleString("en-US")} parameters`;
    const review = root.querySelector<HTMLTextAreaElement>("textarea[name='review']")!;
    const prediction = root.querySelector<HTMLElement>(".live-prediction")!;
    const show = (label: string, logits: number[]) => `${label}: ${pct(positive(logits))} positive`;
    // What the box shows for the review in it; typing faster than the model answers drops stale answers.
    let asked = 0;
    let describe = async (text: string) => show("Before fine-tuning (the classifier head is still random)", (await classify(loaded, text)).logits);
    const showPrediction = async () => {
      const ask = ++asked;
      const text = await describe(review.value);
      if (ask === asked) prediction.textContent = text;
    };
    run.exampleLogits = (await classify(loaded, EXAMPLE)).logits;
    await showPrediction();
    review.addEventListener("input", () => void showPrediction());
    const { recipe } = manifest;
    status(
      `Ready: LoRA (r = ${recipe.rank}, alpha = ${recipe.alpha}) on ${recipe.targets.join(" and ")} and the classifier head train ` +
        `${run.trainable.toLocaleString("en-US")} of ${run.total.toLocaleString("en-US")} parameters, on ${manifest.train.labels.length} reviews ` +
        `for ${recipe.epochs} epoch${recipe.epochs === 1 ? "" : "s"}; ${manifest.val.labels.length} others measure it.`,
    );
    const train = root.querySelector<HTMLButtonElement>("button[name='train']")!;
    const download = root.querySelector<HTMLButtonElement>("button[name='download']")!;
    train.disabled = false;
    run.ready = true;
    train.addEventListener("click", async () => {
      train.disabled = true;
      try {
        run.probe.text = review.value;
        const start = await classify(loaded, run.probe.text);
        run.probe.ids = start.ids;
        run.probe.logitsBefore = start.logits;
        await fineTune(loaded, run, root, status);
        run.probe.logitsAfter = (await classify(loaded, run.probe.text)).logits;
        // From now on the box compares the fine-tuned classifier with the one it started from.
        describe = async (text: string) => {
          const after = (await classify(loaded, text)).logits;
          return text === run.probe.text ? `${show("Before fine-tuning", run.probe.logitsBefore)} · ${show("after", after)}` : show("After fine-tuning", after);
        };
        await showPrediction();
        download.disabled = false;
        run.done = true;
      } catch (error) {
        run.error = (error as Error).message;
        status(`The run stopped: ${run.error}`);
      }
    });
    download.addEventListener("click", async () => {
      const { config, weights } = await adapterFiles(model, { baseModelNameOrPath: manifest.backbone.source });
      save("adapter_config.json", new Blob([JSON.stringify(config, null, 2) + "\n"], { type: "application/json" }));
      save("adapter_model.safetensors", new Blob(weights as BlobPart[], { type: "application/octet-stream" }));
      run.downloads = ["adapter_config.json", "adapter_model.safetensors"];
    });
  } catch (error) {
    run.error = (error as Error).message;
    status(`The playground could not start: ${run.error}`);
  }
}

/** WebGPU where the browser has it, else WebGL, else WebAssembly; `?backend=NAME` picks one. */
async function startBackend(): Promise<string> {
  const asked = new URLSearchParams(location.search).get("backend");
  const order = asked ? [asked] : ["webgpu", "webgl", "wasm"];
  for (const name of order) {
    try {
      if (name === "webgpu" && !(await webgpuAdapter())) continue;
      if (name === "wasm") await useWasmBinaries();
      if (await tf.setBackend(name)) {
        await tf.ready();
        return tf.getBackend();
      }
    } catch {
      // this backend does not start here: try the next
    }
  }
  throw new Error(`none of the backends ${order.join(", ")} starts in this browser`);
}

/** Whether the browser offers a WebGPU adapter (asked first: tfjs warns at length where there is none). */
async function webgpuAdapter(): Promise<boolean> {
  const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  return gpu !== undefined && (await gpu.requestAdapter()) !== null;
}

/** tfjs's wasm binaries from this page's own files, as blob: URLs (a page from file:// may fetch only those). */
async function useWasmBinaries(): Promise<void> {
  const url = async (name: (typeof PLAYGROUND_FILES)[number]) => URL.createObjectURL(new Blob([await loadAsset(name)], { type: "application/wasm" }));
  const simd = await url("tfjs-backend-wasm-simd.wasm");
  // The threaded build needs a cross-origin-isolated page, which a book is not: it is never picked.
  setWasmPaths({ "tfjs-backend-wasm.wasm": await url("tfjs-backend-wasm.wasm"), "tfjs-backend-wasm-simd.wasm": simd, "tfjs-backend-wasm-threaded-simd.wasm": simd });
}

/** One of the page's files (imdb-playground-assets.ts): its script is added to the page, then its bytes unpacked. */
async function loadAsset(name: (typeof PLAYGROUND_FILES)[number]): Promise<Uint8Array> {
  const store = self as unknown as { liveAssets?: Record<string, string> };
  const key = liveAssetKey(NAME, name);
  if (store.liveAssets?.[key] === undefined) {
    await new Promise<void>((resolve, reject) => {
      const script = document.createElement("script");
      script.src = `${ASSETS}${name}.js`;
      script.onload = () => resolve();
      script.onerror = () => reject(new Error(`${ASSETS}${name}.js did not load: build the book again (npm run book)`));
      document.head.appendChild(script);
    });
  }
  const base64 = store.liveAssets?.[key];
  if (base64 === undefined) throw new Error(`${ASSETS}${name}.js holds no ${key}`);
  delete store.liveAssets![key];
  const binary = atob(base64);
  const packed = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) packed[i] = binary.charCodeAt(i);
  if (typeof DecompressionStream === "undefined") throw new Error("this browser has no DecompressionStream (Chrome 80, Firefox 113, Safari 16.4 or later)");
  const stream = new Blob([packed]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function load(): Promise<Loaded> {
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  const [manifestBytes, configBytes, weights, vocab, reviews] = await Promise.all(
    (["playground.json", "config.json", "model.safetensors", "vocab.txt", "reviews.bin"] as const).map(loadAsset),
  );
  const manifest = JSON.parse(text(manifestBytes)) as PlaygroundManifest;
  const tokenizer = tokenizerFromText({ vocab: text(vocab) }, manifest.tokenizer.name, ASSETS);
  const file = parseSafetensors(weights, `${ASSETS}model.safetensors`);
  const model = playgroundModel(JSON.parse(text(configBytes)) as Record<string, unknown>, file, manifest.recipe, ASSETS.replace(/\/$/, ""));
  const ids = new Uint16Array(reviews.buffer, reviews.byteOffset, reviews.byteLength / 2);
  return { manifest, tokenizer, model, ...splitReviews(manifest, ids, tokenizer) };
}

/** The review's token ids and the model's two logits for it (negative, positive), in eval mode. */
async function classify({ model, tokenizer, manifest }: Loaded, text: string): Promise<{ ids: number[]; logits: number[] }> {
  const ids = tokenizer.encode(text, { maxLength: manifest.maxLength });
  const logits = tf.tidy(() => model.forward(tf.tensor2d([ids], [1, ids.length], "int32"), tf.ones([1, ids.length], "int32")));
  const values = Array.from(await logits.data()); // asynchronous: a GPU backend's synchronous read goes through a canvas
  logits.dispose();
  return { ids, logits: values };
}

const positive = (logits: number[]) => 1 / (1 + Math.exp(logits[0] - logits[1]));

/** Reviews `indices`, padded to the longest of them (lib's collate), as tensors. */
function batchTensors(reviews: TokenizedSplit, indices: number[]) {
  const batch = collate(reviews, indices);
  return {
    ids: tf.tensor2d(batch.inputIds, [batch.size, batch.seqLen], "int32"),
    mask: tf.tensor2d(batch.attentionMask, [batch.size, batch.seqLen], "int32"),
    labels: tf.tensor1d(batch.labels, "int32"),
  };
}

async function accuracy({ model }: Loaded, reviews: TokenizedSplit): Promise<number> {
  model.eval();
  let correct = 0;
  for (let start = 0; start < reviews.labels.length; start += 32) {
    const indices = Array.from({ length: Math.min(32, reviews.labels.length - start) }, (_, i) => start + i);
    const batch = batchTensors(reviews, indices);
    const predicted = tf.tidy(() => tf.argMax(model.forward(batch.ids, batch.mask), -1));
    const values = await predicted.data();
    tf.dispose([predicted, batch.ids, batch.mask, batch.labels]);
    indices.forEach((i, k) => (correct += values[k] === reviews.labels[i] ? 1 : 0));
    await tf.nextFrame();
  }
  return correct / reviews.labels.length;
}

/** The recipe's epochs over the training reviews (`?epochs=N`, `?steps=N` per epoch change it), drawing as it goes. */
async function fineTune(loaded: Loaded, run: PlaygroundRun, root: HTMLElement, status: (text: string) => void): Promise<void> {
  const { model, manifest, train } = loaded;
  const { recipe } = manifest;
  const params = new URLSearchParams(location.search);
  const epochs = Number(params.get("epochs") ?? recipe.epochs);
  const plot = root.querySelector<HTMLElement>(".live-curves")!;
  const stepsPerEpoch = Math.min(Math.ceil(train.labels.length / recipe.batchSize), Number(params.get("steps") ?? Infinity));
  const draw = () => drawCurves(plot, run, stepsPerEpoch, epochs);
  status("Measuring validation accuracy before fine-tuning...");
  run.valAccuracy.push(await accuracy(loaded, loaded.val));
  draw();
  const parameters = model.trainableParameters();
  const optimizer = new Adam(parameters, { learningRate: recipe.learningRate });
  let seconds = 0;
  let samples = 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    model.train();
    const order = permutation(train.labels.length, recipe.seed + epoch);
    let pending: QueuedStep | null = null;
    const started = performance.now();
    for (let step = 0; step < stepsPerEpoch; step++) {
      const indices = order.slice(step * recipe.batchSize, (step + 1) * recipe.batchSize);
      const batch = batchTensors(train, indices);
      const queued = queueTrainStep(model, optimizer, parameters, batch.ids, batch.mask, batch.labels);
      tf.dispose([batch.ids, batch.mask, batch.labels]);
      if (pending) run.losses.push((await readStep(pending)).loss);
      pending = queued;
      samples += indices.length;
      if (step % 5 === 4) {
        draw();
        status(`Epoch ${epoch + 1} of ${epochs}, step ${step + 1} of ${stepsPerEpoch}: loss ${run.losses[run.losses.length - 1]?.toFixed(3) ?? "…"}`);
        await tf.nextFrame();
      }
    }
    if (pending) run.losses.push((await readStep(pending)).loss);
    seconds += (performance.now() - started) / 1000;
    run.samplesPerSecond = samples / seconds;
    status(`Epoch ${epoch + 1} of ${epochs}: measuring validation accuracy...`);
    run.valAccuracy.push(await accuracy(loaded, loaded.val));
    draw();
  }
  optimizer.dispose();
  model.eval();
  status(
    `Done on the ${run.backend} backend at ${run.samplesPerSecond.toFixed(1)} reviews/s of training: validation accuracy ` +
      `${pct(run.valAccuracy[0])} before, ${pct(run.valAccuracy[run.valAccuracy.length - 1])} after.`,
  );
}

function drawCurves(element: HTMLElement, run: PlaygroundRun, stepsPerEpoch: number, epochs: number): void {
  const plotly = (window as unknown as { Plotly?: PlotlyApi }).Plotly;
  if (!plotly) return; // the page loads plotly.js; without it the status line still tells
  void plotly.react(
    element,
    [
      { y: run.losses, x: run.losses.map((_, i) => i + 1), name: "training loss", mode: "lines" },
      { x: run.valAccuracy.map((_, i) => i * stepsPerEpoch), y: run.valAccuracy, name: "validation accuracy", mode: "lines+markers", yaxis: "y2" },
    ],
    {
      title: { text: "Fine-tuning, live" },
      xaxis: { title: { text: "step" }, range: [0, stepsPerEpoch * epochs] },
      yaxis: { title: { text: "cross-entropy" } },
      yaxis2: { title: { text: "validation accuracy" }, overlaying: "y", side: "right", range: [0.4, 1], tickformat: ".0%" },
      legend: { orientation: "h", y: -0.2 },
      height: 360,
      margin: { t: 50 },
    },
    { responsive: true },
  );
}

/** Offer `blob` as a download named `name`. */
function save(name: string, blob: Blob): void {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}
