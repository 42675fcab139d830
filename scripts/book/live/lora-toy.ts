// Chapter 00, live in the reader's browser: the toy network is pretrained on task A, LoRA is
// wrapped around its three Linear layers, the base weights are frozen, and only A and B train on
// task B while the loss curve draws. The model, the LoRA layers, freezing, printing and Adam are
// lib/'s, bundled for the browser by the book's build (scripts/book/live.ts); rank and alpha come
// from the sliders. What a run found is also left on `window.liveLoRA`, for the book's tests.
import * as tf from "@tensorflow/tfjs";
import { printModel } from "../../../lib/nn/module";
import { Linear } from "../../../lib/nn/layers";
import { countParameters, freeze } from "../../../lib/nn/parameters";
import { manualSeed, randn } from "../../../lib/nn/random";
import { crossEntropy } from "../../../lib/nn/functional";
import { LinearWithLoRA } from "../../../lib/lora/lora";
import { Adam } from "../../../lib/train/adam";
import { MultilayerPerceptron } from "../../../lib/models/mlp";
import { pct } from "../../../lib/util/format";
import type { Module } from "../../../lib/nn/module";

interface PlotlyApi {
  react(element: HTMLElement, data: object[], layout: object, config?: object): Promise<unknown>;
}

/** What one run found: read by the book's browser test. */
export interface LiveRun {
  backend: string;
  rank: number;
  alpha: number;
  pretrainLosses: number[];
  loraLosses: number[];
  accuracyBefore: number;
  accuracyAfter: number;
  printed: string;
  trainable: number;
  total: number;
  frozenChanged: string[];
  loraChanged: string[];
  stepsPerSecond: number;
}

const STEPS = 150;
const LEARNING_RATE = 1e-2;

const root = document.querySelector<HTMLElement>("[data-live='lora-toy']");
if (root) setUp(root);

function setUp(root: HTMLElement): void {
  root.innerHTML = `
    <p>The chapter's experiment, run by your browser with the same library code: pretrain the network
    on task A, wrap its three <code>Linear</code> layers in <code>LinearWithLoRA</code>, freeze them,
    and train only A and B on task B.</p>
    <div class="live-controls">
      <label>rank r <input type="range" name="rank" min="1" max="16" step="1" value="4"> <output name="rank">4</output></label>
      <label>alpha <input type="range" name="alpha" min="1" max="32" step="1" value="8"> <output name="alpha">8</output></label>
      <button type="button" name="train">Train</button>
    </div>
    <p class="live-status" aria-live="polite">Press Train: ${STEPS} steps on task A, then ${STEPS} with LoRA on task B.</p>
    <div class="live-loss"></div>
    <pre class="live-model"></pre>
    <p class="live-frozen"></p>`;
  const input = (name: string) => root.querySelector<HTMLInputElement>(`input[name='${name}']`)!;
  for (const name of ["rank", "alpha"]) {
    input(name).addEventListener("input", () => (root.querySelector<HTMLOutputElement>(`output[name='${name}']`)!.value = input(name).value));
  }
  const button = root.querySelector<HTMLButtonElement>("button[name='train']")!;
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const run = await liveRun(root, Number(input("rank").value), Number(input("alpha").value));
      (window as unknown as { liveLoRA: LiveRun }).liveLoRA = run;
    } catch (error) {
      status(root, `The run stopped: ${(error as Error).message}`);
    } finally {
      button.disabled = false;
    }
  });
}

function status(root: HTMLElement, text: string): void {
  root.querySelector(".live-status")!.textContent = text;
}

async function liveRun(root: HTMLElement, rank: number, alpha: number): Promise<LiveRun> {
  await tf.ready();
  const backend = tf.getBackend();
  manualSeed(123);
  const model = new MultilayerPerceptron(10, 64, 32, 2);
  const features = randn([512, 10]);
  // Task A: is x0 + x1 positive? Task B: is x0 - x2 positive?
  const taskA = tf.tidy(() => tf.greater(tf.add(features.slice([0, 0], [-1, 1]), features.slice([0, 1], [-1, 1])), 0).reshape([-1]).toInt());
  const taskB = tf.tidy(() => tf.greater(tf.sub(features.slice([0, 0], [-1, 1]), features.slice([0, 2], [-1, 1])), 0).reshape([-1]).toInt());
  const plot = root.querySelector<HTMLElement>(".live-loss")!;
  const curves = { pretrain: [] as number[], lora: [] as number[] };
  const draw = () => drawLosses(plot, curves.pretrain, curves.lora);
  const started = performance.now();

  status(root, `Pretraining all weights on task A (${backend} backend)...`);
  await fit(model, features, taskA, (loss) => curves.pretrain.push(loss), draw);
  const accuracyBefore = accuracy(model, features, taskB);

  for (const i of [0, 2, 4]) {
    const layer = model.layers[i] as Linear;
    freeze(layer);
    model.layers[i] = new LinearWithLoRA(layer, rank, alpha);
  }
  const printed = printModel(model);
  const trainable = countParameters(model, { trainableOnly: true });
  const total = countParameters(model);
  root.querySelector(".live-model")!.textContent = `${printed}\ntrainable: ${trainable.toLocaleString("en-US")} of ${total.toLocaleString("en-US")} parameters`;

  const frozen = model.namedParameters().filter(([, p]) => !p.trainable);
  const trained = model.namedParameters().filter(([, p]) => p.trainable);
  const copies = new Map(model.parameters().map((p) => [p, p.clone()] as const));
  status(root, `LoRA on task B: training ${trainable.toLocaleString("en-US")} numbers, the network's own frozen...`);
  await fit(model, features, taskB, (loss) => curves.lora.push(loss), draw);
  const seconds = (performance.now() - started) / 1000;
  const accuracyAfter = accuracy(model, features, taskB);
  const changed = (list: [string, tf.Variable][]) => list.filter(([, p]) => tf.tidy(() => tf.any(tf.notEqual(p, copies.get(p)!)).dataSync()[0] === 1)).map(([name]) => name);
  const frozenChanged = changed(frozen);
  const loraChanged = changed(trained);
  root.querySelector(".live-frozen")!.textContent =
    `Frozen weights that changed: ${frozenChanged.length === 0 ? "none" : frozenChanged.join(", ")}. ` +
    `LoRA weights that changed: ${loraChanged.join(", ")}.`;
  const stepsPerSecond = (2 * STEPS) / seconds;
  status(root, `Done on the ${backend} backend, ${stepsPerSecond.toFixed(0)} steps/s: task B accuracy ${pct(accuracyBefore)} before LoRA, ${pct(accuracyAfter)} after.`);
  tf.dispose([features, taskA, taskB, ...copies.values()]);
  model.dispose();
  return { backend, rank, alpha, pretrainLosses: curves.pretrain, loraLosses: curves.lora, accuracyBefore, accuracyAfter, printed, trainable, total, frozenChanged, loraChanged, stepsPerSecond };
}

/** Adam on the trainable parameters; yields to the page every few steps so the curve can draw. */
async function fit(net: Module, x: tf.Tensor, labels: tf.Tensor, onLoss: (loss: number) => void, draw: () => void): Promise<void> {
  const parameters = net.trainableParameters();
  const optimizer = new Adam(parameters, { learningRate: LEARNING_RATE });
  for (let step = 0; step < STEPS; step++) {
    const { value, grads } = tf.variableGrads(() => crossEntropy(net.forward(x), labels), parameters);
    optimizer.applyGradients(grads);
    onLoss((await value.data())[0]);
    tf.dispose([value, ...Object.values(grads)]);
    if (step % 10 === 9 || step === STEPS - 1) {
      draw();
      await tf.nextFrame();
    }
  }
  optimizer.dispose();
}

function accuracy(net: Module, x: tf.Tensor, labels: tf.Tensor): number {
  return tf.tidy(() => tf.mean(tf.equal(tf.argMax(net.forward(x), -1), labels).toFloat()).dataSync()[0]);
}

function drawLosses(element: HTMLElement, pretrain: number[], lora: number[]): void {
  const plotly = (window as unknown as { Plotly?: PlotlyApi }).Plotly;
  if (!plotly) return; // the page loads plotly.js with its figures; without it the text still tells
  void plotly.react(
    element,
    [
      { y: pretrain, name: "pretraining on task A (all weights)", mode: "lines" },
      { x: lora.map((_, i) => i + STEPS), y: lora, name: "LoRA on task B (A and B only)", mode: "lines" },
    ],
    { title: { text: "Training loss, live" }, xaxis: { title: { text: "step" }, range: [0, 2 * STEPS] }, yaxis: { title: { text: "cross-entropy (log scale)" }, type: "log" }, height: 340, margin: { t: 50 } },
    { responsive: true },
  );
}
