import type { DistilBertConfig } from "../lib/models/distilbert";
import type { Mode } from "../lib/train/experiment";
import { loraTargetsFromFlags, LoRAFlags } from "../lib/lora/apply";

// The floating-point operations of one training step of DistilBertForSequenceClassification, counted
// as its matrix products: 2*M*K*N for an [M, K] x [K, N] product (a multiply and an add per term).
// Everything else is left out: the embeddings (a gather forward, a scatter-add backward), biases,
// LayerNorm, softmax, GELU, dropout, the LoRA scale, the loss and Adam. These are a few percent of
// the products' operations at the benchmark's shapes, but they move memory rather than compute, so
// the count is the work that a CPU's peak rate bounds: achieved GFLOP/s = this count / step time.
//
// Forward, per block on N = batch * seq rows: q, k, v, out_lin (4 x 2*N*dim*dim), the attention's
// scores q k^T and weights times v (each 2*batch*heads*seq*seq*headDim = 2*batch*seq*seq*dim), the
// FFN's lin1 and lin2 (each 2*N*dim*hidden); a LoRA-adapted Linear adds x A and (x A) B
// (2*N*in*rank + 2*N*rank*out). The head runs on the first position only: pre_classifier
// (2*batch*dim*dim) and classifier (2*batch*dim*labels).
//
// Backward, for Y = X W: dX = dY W^T and dW = X^T dY, each as many operations as the forward product,
// and each computed only where a trainable parameter needs it, as autograd does (PyTorch, and tfjs's
// gradients, which follow only the paths from the loss to the trainable variables):
// - dW for trainable weights only;
// - dX for a layer only if something trainable lies below it (earlier in the forward pass): the
//   gradient has to reach it. In full fine-tuning the embeddings train, so every layer needs dX and
//   the backward pass is exactly twice the forward. In LoRA mode the base is frozen, so below the
//   lowest block with an adapter no dX is needed: in that block, k_lin's branch of the scores
//   (dk) and the frozen q, k, v weights' dX drop out, while everything above it still passes the
//   gradient down (FFN, out_lin, the attention's dP, dv, dq);
// - a LoRA adapter y = s (x A) B costs dB = (x A)^T dY, d(x A) = dY B^T and dA = x^T d(x A),
//   plus d(x A) A^T into dX where dX is needed;
// - the attention's products have two activations as operands: for S = q k^T, dq = dS k and
//   dk = dS^T q; for C = P v, dP = dC v^T and dv = P^T dC; each only where its operand's branch
//   leads to something trainable.

/** A step's matrix-product operations: forward, backward, and their sum. */
export interface StepFlops {
  forward: number;
  backward: number;
  total: number;
}

export interface StepShape {
  config: Pick<DistilBertConfig, "dim" | "nLayers" | "nHeads" | "hiddenDim" | "numLabels">;
  batch: number;
  seq: number;
  /** LoRA's rank (the benchmarks': 8). */
  rank: number;
}

/** The operations of an [m, k] x [k, n] product. */
const product = (m: number, k: number, n: number): number => 2 * m * k * n;

interface Trainable {
  weight: boolean; // the Linear's own weight trains
  lora: boolean; // a LoRA adapter on it trains
}

/** A Linear of `rows` rows from `inDim` to `outDim`: its forward and backward operations. */
function linear(rows: number, inDim: number, outDim: number, rank: number, trains: Trainable, needInputGradient: boolean): { forward: number; backward: number } {
  const forward = product(rows, inDim, outDim) + (trains.lora ? product(rows, inDim, rank) + product(rows, rank, outDim) : 0);
  let backward = 0;
  if (trains.weight) backward += product(inDim, rows, outDim); // dW = X^T dY
  if (needInputGradient) backward += product(rows, outDim, inDim); // dX = dY W^T
  if (trains.lora) {
    backward += product(rank, rows, outDim); // dB = (X A)^T dY
    backward += product(rows, outDim, rank); // d(X A) = dY B^T
    backward += product(inDim, rows, rank); // dA = X^T d(X A)
    if (needInputGradient) backward += product(rows, rank, inDim); // dX += d(X A) A^T
  }
  return { forward, backward };
}

/**
 * A training step's matrix-product operations in one of the benchmarks' modes (bench/modes.ts:
 * `mode` and the LoRA flags), as lib/train/experiment.ts prepareForMode sets up what trains:
 * full (everything), lora (only the adapters on the flagged Linears), last-layers (the head).
 */
export function stepFlops(mode: Mode, flags: LoRAFlags | undefined, shape: StepShape): StepFlops {
  const { config, batch, seq, rank } = shape;
  const { dim, hiddenDim, nLayers, numLabels } = config;
  const rows = batch * seq;
  const targets = mode === "lora" ? loraTargetsFromFlags(flags ?? {}) : [];
  const trains = (name: string): Trainable => ({
    weight: mode === "full" || (mode === "last-layers" && (name === "pre_classifier" || name === "classifier")),
    lora: targets.includes(name),
  });
  const any = (t: Trainable) => t.weight || t.lora;
  const blockLinears = ["q_lin", "k_lin", "v_lin", "out_lin", "lin1", "lin2"];
  const blockTrains = blockLinears.some((name) => any(trains(name)));
  // The embeddings and LayerNorms train only in full fine-tuning.
  const embeddingsTrain = mode === "full";
  const encoderTrains = embeddingsTrain || blockTrains;

  let forward = 0;
  let backward = 0;
  const add = (cost: { forward: number; backward: number }) => {
    forward += cost.forward;
    backward += cost.backward;
  };
  // The attention's two products over batch * heads matrices of seq x headDim: 2*batch*seq*seq*dim each.
  const attentionProduct = product(batch * seq, dim, seq);

  for (let layer = 0; layer < nLayers; layer++) {
    if (!encoderTrains) {
      // The encoder runs off the gradient tape (last-layers): forward only.
      forward += 4 * product(rows, dim, dim) + 2 * attentionProduct + 2 * product(rows, dim, hiddenDim);
      continue;
    }
    // Does the gradient have to pass below this block, into its input?
    const needInput = embeddingsTrain || (layer > 0 && blockTrains);
    const attentionTrains = ["q_lin", "k_lin", "v_lin", "out_lin"].some((name) => any(trains(name)));
    // The FFN's input, the attention's output after its LayerNorm: it needs a gradient if
    // something trainable lies below it (the FFN's dX is added to what the residual brings).
    const needAttended = needInput || attentionTrains;
    add(linear(rows, hiddenDim, dim, rank, trains("lin2"), needAttended || any(trains("lin1"))));
    add(linear(rows, dim, hiddenDim, rank, trains("lin1"), needAttended));
    const qBranch = needInput || any(trains("q_lin"));
    const kBranch = needInput || any(trains("k_lin"));
    const vBranch = needInput || any(trains("v_lin"));
    add(linear(rows, dim, dim, rank, trains("out_lin"), qBranch || kBranch || vBranch));
    forward += 2 * attentionProduct; // scores = q k^T, context = P v
    if (qBranch || kBranch) backward += attentionProduct; // dP = dC v^T
    if (vBranch) backward += attentionProduct; // dv = P^T dC
    if (qBranch) backward += attentionProduct; // dq = dS k
    if (kBranch) backward += attentionProduct; // dk = dS^T q
    for (const name of ["q_lin", "k_lin", "v_lin"]) add(linear(rows, dim, dim, rank, trains(name), needInput));
  }
  // The head, on the first position of each sequence.
  add(linear(batch, dim, numLabels, rank, trains("classifier"), encoderTrains || any(trains("pre_classifier"))));
  add(linear(batch, dim, dim, rank, trains("pre_classifier"), encoderTrains));
  return { forward, backward, total: forward + backward };
}
