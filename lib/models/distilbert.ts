import * as tf from "@tensorflow/tfjs";
import { Module } from "../nn/module";
import { CrossEntropyLoss, Dropout, Embedding, GELU, LayerNorm, Linear, LinearLike, ReLU, zeroRow } from "../nn/layers";
import { ModuleList } from "../nn/containers";
import { randn } from "../nn/random";
import * as F from "../nn/functional";
import { loadCheckpoint, loadStateDict, readCheckpointConfig, saveCheckpoint, LoadReport, SaveOptions } from "./checkpoint";
import { readSafetensorsDir, SafetensorsFile } from "../io/safetensors";
import { displayPath } from "../io/files";
import { withoutGradients } from "../nn/autograd";

// DistilBERT (Sanh et al., 2019) as Hugging Face transformers builds it: the same module tree,
// the same names (so checkpoint keys map 1:1 onto namedParameters()) and the same math.

/** The model's shape and regularisation, with distilbert-base-uncased's values as defaults. */
export interface DistilBertConfig {
  vocabSize: number; // WordPiece vocabulary (bert-base-uncased: 30,522)
  maxPositionEmbeddings: number; // longest input in tokens
  dim: number; // width of every hidden state
  nLayers: number; // transformer blocks
  nHeads: number; // attention heads; dim / nHeads per head
  hiddenDim: number; // width inside each block's feed-forward network
  dropout: number; // on embeddings and feed-forward outputs
  attentionDropout: number; // on attention weights
  seqClassifDropout: number; // before the classifier
  activation: "gelu" | "relu"; // in the feed-forward network
  padTokenId: number; // its embedding row starts at zero
  numLabels: number; // classifier outputs
  initializerRange: number; // std of the normal init of Linear and Embedding weights
}

export const DISTILBERT_BASE: DistilBertConfig = {
  vocabSize: 30522,
  maxPositionEmbeddings: 512,
  dim: 768,
  nLayers: 6,
  nHeads: 12,
  hiddenDim: 3072,
  dropout: 0.1,
  attentionDropout: 0.1,
  seqClassifDropout: 0.2,
  activation: "gelu",
  padTokenId: 0,
  numLabels: 2,
  initializerRange: 0.02,
};

export function distilBertConfig(overrides: Partial<DistilBertConfig> = {}): DistilBertConfig {
  const config = { ...DISTILBERT_BASE, ...overrides };
  checkDistilBertConfig(config);
  return config;
}

/** Each numeric field's config.json key and accepted values: whole numbers in [min, max], or a dropout probability. */
const CONFIG_RULES: { key: keyof DistilBertConfig; json: string; rule: "count" | "probability" | "std"; max?: number }[] = [
  { key: "vocabSize", json: "vocab_size", rule: "count", max: 1_000_000 },
  { key: "maxPositionEmbeddings", json: "max_position_embeddings", rule: "count", max: 65_536 },
  { key: "dim", json: "dim", rule: "count", max: 65_536 },
  { key: "nLayers", json: "n_layers", rule: "count", max: 256 },
  { key: "nHeads", json: "n_heads", rule: "count", max: 1024 },
  { key: "hiddenDim", json: "hidden_dim", rule: "count", max: 262_144 },
  { key: "dropout", json: "dropout", rule: "probability" },
  { key: "attentionDropout", json: "attention_dropout", rule: "probability" },
  { key: "seqClassifDropout", json: "seq_classif_dropout", rule: "probability" },
  { key: "numLabels", json: "num_labels", rule: "count", max: 65_536 },
  { key: "initializerRange", json: "initializer_range", rule: "std" },
];

/** The most parameters a config may ask for (8 GB of float32); distilbert-base has 67 million. */
const MAX_PARAMETERS = 2e9;

/**
 * Throw unless every field is usable: sizes are whole numbers from 1 to a generous bound, dropouts
 * probabilities in [0, 1), dim divisible by nHeads, padTokenId an id of the vocabulary, and the
 * whole model at most 2 billion parameters. `where` starts the message (a file, or "DistilBertConfig");
 * with `jsonKeys` the message names config.json's keys (n_layers) instead of the fields (nLayers).
 */
export function checkDistilBertConfig(config: DistilBertConfig, where = "DistilBertConfig", jsonKeys = false): void {
  const name = (key: keyof DistilBertConfig) => {
    const json = CONFIG_RULES.find((r) => r.key === key)?.json ?? (key === "padTokenId" ? "pad_token_id" : key);
    return jsonKeys ? `"${json}"` : key;
  };
  const show = (x: unknown) => (typeof x === "number" ? String(x) : JSON.stringify(x));
  const fail = (problem: string): never => {
    throw new Error(`${where}: ${problem}`);
  };
  for (const { key, rule, max } of CONFIG_RULES) {
    const value = config[key] as unknown;
    const ok =
      typeof value === "number" &&
      (rule === "count" ? Number.isInteger(value) && value >= 1 && value <= (max as number)
        : rule === "probability" ? value >= 0 && value < 1
        : value >= 0 && value <= 1);
    if (ok) continue;
    if (rule === "count") fail(`${name(key)} must be a whole number from 1 to ${(max as number).toLocaleString("en-US")}, got ${show(value)}`);
    if (rule === "probability") fail(`${name(key)} is a dropout probability and must be at least 0 and below 1, got ${show(value)}`);
    fail(`${name(key)} (the standard deviation of the initial weights) must be from 0 to 1, got ${show(value)}`);
  }
  if (config.dim % config.nHeads !== 0) fail(`${name("dim")} (${config.dim}) must be divisible by ${name("nHeads")} (${config.nHeads})`);
  if (!(Number.isInteger(config.padTokenId) && config.padTokenId >= 0 && config.padTokenId < config.vocabSize)) {
    fail(`${name("padTokenId")} must be an id of the vocabulary, 0 to ${config.vocabSize - 1}, got ${show(config.padTokenId)}`);
  }
  if (config.activation !== "gelu" && config.activation !== "relu") fail(`${name("activation")} "${config.activation}" is not supported (gelu or relu)`);
  const { vocabSize: V, maxPositionEmbeddings: P, dim: D, nLayers: L, hiddenDim: H } = config;
  const parameters = (V + P) * D + L * (4 * D * D + 2 * D * H) + D * D;
  if (parameters > MAX_PARAMETERS) {
    fail(`these sizes make a model of about ${parameters.toExponential(2)} parameters, more than the ${MAX_PARAMETERS.toExponential(0)} this library builds (check ${[name("vocabSize"), name("dim"), name("hiddenDim"), name("nLayers")].join(", ")})`);
  }
}

/** A DistilBertConfig from a Hugging Face config.json object (snake_case keys); `file` names it in errors. */
export function configFromHuggingFace(json: Record<string, unknown>, file = "config.json"): DistilBertConfig {
  if (json.model_type !== undefined && json.model_type !== "distilbert") {
    throw new Error(`${file}: model_type is "${json.model_type}", not "distilbert"`);
  }
  if (json.sinusoidal_pos_embds === true) {
    throw new Error(`${file}: sinusoidal_pos_embds=true is not supported (distilbert-base-uncased learns its position embeddings)`);
  }
  const number = (key: string, fallback: number): number => {
    const value = json[key] ?? fallback;
    if (typeof value !== "number" || !Number.isFinite(value)) throw new Error(`${file}: "${key}" must be a number, got ${JSON.stringify(value)}`);
    return value;
  };
  const activation = json.activation ?? "gelu";
  if (activation !== "gelu" && activation !== "relu") throw new Error(`${file}: activation "${activation}" is not supported (gelu or relu)`);
  const id2label = json.id2label;
  if (id2label !== undefined && id2label !== null && (typeof id2label !== "object" || Array.isArray(id2label))) {
    throw new Error(`${file}: "id2label" must be an object of label names, got ${JSON.stringify(id2label)}`);
  }
  const numLabels = json.num_labels !== undefined && json.num_labels !== null ? number("num_labels", 0) : id2label ? Object.keys(id2label).length : DISTILBERT_BASE.numLabels;
  const config: DistilBertConfig = {
    vocabSize: number("vocab_size", DISTILBERT_BASE.vocabSize),
    maxPositionEmbeddings: number("max_position_embeddings", DISTILBERT_BASE.maxPositionEmbeddings),
    dim: number("dim", DISTILBERT_BASE.dim),
    nLayers: number("n_layers", DISTILBERT_BASE.nLayers),
    nHeads: number("n_heads", DISTILBERT_BASE.nHeads),
    hiddenDim: number("hidden_dim", DISTILBERT_BASE.hiddenDim),
    dropout: number("dropout", DISTILBERT_BASE.dropout),
    attentionDropout: number("attention_dropout", DISTILBERT_BASE.attentionDropout),
    seqClassifDropout: number("seq_classif_dropout", DISTILBERT_BASE.seqClassifDropout),
    activation,
    padTokenId: number("pad_token_id", DISTILBERT_BASE.padTokenId),
    numLabels,
    initializerRange: number("initializer_range", DISTILBERT_BASE.initializerRange),
  };
  checkDistilBertConfig(config, file, true);
  return config;
}

/** The config.json transformers writes for this config and architecture. */
export function configToHuggingFace(config: DistilBertConfig, architecture: string): Record<string, unknown> {
  const labels = Array.from({ length: config.numLabels }, (_, i) => i);
  return {
    architectures: [architecture],
    model_type: "distilbert",
    vocab_size: config.vocabSize,
    max_position_embeddings: config.maxPositionEmbeddings,
    dim: config.dim,
    n_layers: config.nLayers,
    n_heads: config.nHeads,
    hidden_dim: config.hiddenDim,
    dropout: config.dropout,
    attention_dropout: config.attentionDropout,
    seq_classif_dropout: config.seqClassifDropout,
    activation: config.activation,
    pad_token_id: config.padTokenId,
    initializer_range: config.initializerRange,
    qa_dropout: 0.1,
    sinusoidal_pos_embds: false,
    tie_word_embeddings: true,
    id2label: Object.fromEntries(labels.map((i) => [String(i), `LABEL_${i}`])),
    label2id: Object.fromEntries(labels.map((i) => [`LABEL_${i}`, i])),
    dtype: "float32",
  };
}

/** Read dir/config.json; `overrides` change it as transformers' from_pretrained(dir, num_labels=...) does. */
export function readDistilBertConfig(dir: string, overrides: Partial<DistilBertConfig> = {}): DistilBertConfig {
  const { json, file } = readCheckpointConfig(dir);
  const config = { ...configFromHuggingFace(json, file), ...overrides };
  if (Object.keys(overrides).length > 0) checkDistilBertConfig(config, `${file} with the overrides ${JSON.stringify(overrides)}`);
  return config;
}

export interface FromPretrainedOptions {
  /** Change the config, e.g. { numLabels: 3 } or { dropout: 0 }. */
  config?: Partial<DistilBertConfig>;
  /** Where loading messages go (default console.log). */
  log?: (message: string) => void;
}

/** Hugging Face's GELUActivation: GELU with the exact erf (it prints no arguments). */
export class GELUActivation extends GELU {
  static override typeName = "GELUActivation";

  override extraRepr(): string {
    return "";
  }
}

/** Word embedding + position embedding, then LayerNorm and dropout. */
export class Embeddings extends Module {
  static override typeName = "Embeddings";

  word_embeddings: Embedding;
  position_embeddings: Embedding;
  LayerNorm: LayerNorm;
  dropout: Dropout;

  constructor(config: DistilBertConfig) {
    super();
    this.word_embeddings = new Embedding(config.vocabSize, config.dim, { paddingIdx: config.padTokenId });
    this.position_embeddings = new Embedding(config.maxPositionEmbeddings, config.dim);
    this.LayerNorm = new LayerNorm(config.dim, 1e-12);
    this.dropout = new Dropout(config.dropout);
  }

  /** ids [B, T] -> [B, T, dim] */
  forward(inputIds: tf.Tensor): tf.Tensor {
    const seqLength = inputIds.shape[1]!;
    if (seqLength > this.position_embeddings.numEmbeddings) {
      throw new Error(`Embeddings: input has ${seqLength} tokens but the model takes at most ${this.position_embeddings.numEmbeddings}`);
    }
    const positions = tf.range(0, seqLength, 1, "int32"); // [T], broadcast over the batch
    const embeddings = tf.add(this.word_embeddings.forward(inputIds), this.position_embeddings.forward(positions));
    return this.dropout.forward(this.LayerNorm.forward(embeddings));
  }
}

/** Multi-head self-attention; padding keys are masked out of every softmax. */
export class DistilBertSelfAttention extends Module {
  static override typeName = "DistilBertSelfAttention";

  q_lin: LinearLike;
  k_lin: LinearLike;
  v_lin: LinearLike;
  out_lin: LinearLike;
  dropout: Dropout;
  readonly nHeads: number;
  readonly dim: number;

  constructor(config: DistilBertConfig) {
    super();
    this.nHeads = config.nHeads;
    this.dim = config.dim;
    this.q_lin = new Linear(config.dim, config.dim);
    this.k_lin = new Linear(config.dim, config.dim);
    this.v_lin = new Linear(config.dim, config.dim);
    this.out_lin = new Linear(config.dim, config.dim);
    this.dropout = new Dropout(config.attentionDropout);
  }

  /** x [B, T, dim], attentionMask [B, T] (1 = token, 0 = padding) -> [B, T, dim] */
  forward(x: tf.Tensor, attentionMask: tf.Tensor): tf.Tensor {
    const [B, T] = x.shape as number[];
    const H = this.nHeads;
    const headDim = this.dim / H;
    // [B, T, dim] -> [B*H, T, headDim]: one batched matmul per step on every backend
    const splitHeads = (t: tf.Tensor) => t.reshape([B, T, H, headDim]).transpose([0, 2, 1, 3]).reshape([B * H, T, headDim]);
    const q = splitHeads(tf.mul(this.q_lin.forward(x), 1 / Math.sqrt(headDim))); // scaled before the product, as Hugging Face
    const k = splitHeads(this.k_lin.forward(x));
    const v = splitHeads(this.v_lin.forward(x));
    const scores = tf.matMul(q, k, false, true).reshape([B, H, T, T]); // [B, H, T(query), T(key)]
    // Padding keys' scores drop by 1e9: their softmax weight underflows to exactly 0.
    const weights = this.dropout.forward(F.maskedSoftmax(scores, attentionMask));
    const context = tf.matMul(weights.reshape([B * H, T, T]), v); // [B*H, T, headDim]
    const merged = context.reshape([B, H, T, headDim]).transpose([0, 2, 1, 3]).reshape([B, T, this.dim]);
    return this.out_lin.forward(merged);
  }
}

/** Position-wise feed-forward network: lin1 -> activation -> lin2 -> dropout. */
export class FFN extends Module {
  static override typeName = "FFN";

  dropout: Dropout;
  lin1: LinearLike;
  lin2: LinearLike;
  activation: Module;

  constructor(config: DistilBertConfig) {
    super();
    this.dropout = new Dropout(config.dropout);
    this.lin1 = new Linear(config.dim, config.hiddenDim);
    this.lin2 = new Linear(config.hiddenDim, config.dim);
    this.activation = config.activation === "gelu" ? new GELUActivation() : new ReLU();
  }

  forward(x: tf.Tensor): tf.Tensor {
    return this.dropout.forward(this.lin2.forward(this.activation.forward(this.lin1.forward(x))));
  }
}

/** Post-norm transformer block: x = LN(x + attention(x)); x = LN(x + ffn(x)). */
export class TransformerBlock extends Module {
  static override typeName = "TransformerBlock";

  attention: DistilBertSelfAttention;
  sa_layer_norm: LayerNorm;
  ffn: FFN;
  output_layer_norm: LayerNorm;

  constructor(config: DistilBertConfig) {
    super();
    this.attention = new DistilBertSelfAttention(config);
    this.sa_layer_norm = new LayerNorm(config.dim, 1e-12);
    this.ffn = new FFN(config);
    this.output_layer_norm = new LayerNorm(config.dim, 1e-12);
  }

  forward(x: tf.Tensor, attentionMask: tf.Tensor): tf.Tensor {
    const attended = this.sa_layer_norm.forward(tf.add(this.attention.forward(x, attentionMask), x));
    return this.output_layer_norm.forward(tf.add(this.ffn.forward(attended), attended));
  }
}

export class Transformer extends Module {
  static override typeName = "Transformer";

  layer: ModuleList<TransformerBlock>;

  constructor(config: DistilBertConfig) {
    super();
    this.layer = new ModuleList(Array.from({ length: config.nLayers }, () => new TransformerBlock(config)));
  }

  forward(x: tf.Tensor, attentionMask: tf.Tensor): tf.Tensor {
    // tfjs frees a scope's tensors only when the scope ends: a scope per block frees each block's
    // intermediates as it ends, and each block's output is freed once the next block has read it,
    // not after the last block (those a backward pass needs were kept by the ops that saved them).
    // PyTorch frees each as soon as nothing refers to it.
    let hidden = x;
    for (const block of this.layer) {
      const input = hidden;
      hidden = tf.tidy(() => block.forward(input, attentionMask));
      if (input !== x && input !== hidden) input.dispose();
    }
    return hidden;
  }
}

/** The encoder: token ids [B, T] -> hidden states [B, T, dim]. */
export class DistilBertModel extends Module {
  static override typeName = "DistilBertModel";

  embeddings: Embeddings;
  transformer: Transformer;

  constructor(readonly config: DistilBertConfig) {
    super();
    this.embeddings = new Embeddings(config);
    this.transformer = new Transformer(config);
  }

  forward(inputIds: tf.Tensor, attentionMask?: tf.Tensor): tf.Tensor {
    const mask = attentionMask ?? tf.onesLike(inputIds);
    return this.transformer.forward(this.embeddings.forward(inputIds), mask);
  }

  /** Every hidden state, as Hugging Face's output_hidden_states: the embeddings' output, then each block's. */
  hiddenStates(inputIds: tf.Tensor, attentionMask?: tf.Tensor): tf.Tensor[] {
    const mask = attentionMask ?? tf.onesLike(inputIds);
    const states = [this.embeddings.forward(inputIds)];
    for (const block of this.transformer.layer) states.push(block.forward(states[states.length - 1], mask));
    return states;
  }
}

/** DistilBERT with a classifier on the first ([CLS]) position: the model the tutorial fine-tunes. */
export class DistilBertForSequenceClassification extends Module {
  static override typeName = "DistilBertForSequenceClassification";

  distilbert: DistilBertModel;
  pre_classifier: LinearLike;
  classifier: LinearLike;
  dropout: Dropout;

  constructor(readonly config: DistilBertConfig = DISTILBERT_BASE) {
    super();
    this.distilbert = new DistilBertModel(config);
    this.pre_classifier = new Linear(config.dim, config.dim);
    this.classifier = new Linear(config.dim, config.numLabels);
    this.dropout = new Dropout(config.seqClassifDropout);
    initDistilBertWeights(this, config);
  }

  /**
   * Load a Hugging Face checkpoint folder (config.json + model.safetensors). A checkpoint of the bare
   * DistilBertModel or of DistilBertForMaskedLM (such as distilbert-base-uncased) fills the encoder
   * and leaves pre_classifier and classifier freshly initialised, as transformers does.
   */
  static fromPretrained(dir: string, options: FromPretrainedOptions = {}): DistilBertForSequenceClassification & { loadReport: LoadReport } {
    return DistilBertForSequenceClassification.fromStateDict(readDistilBertConfig(dir, options.config), readSafetensorsDir(dir), displayPath(dir), options);
  }

  /**
   * fromPretrained's work on a checkpoint in memory: its config (configFromHuggingFace of
   * config.json) and its tensors (parseSafetensors of model.safetensors' bytes, say fetched by a
   * web page); `where` names the checkpoint in errors and messages.
   */
  static fromStateDict(
    config: DistilBertConfig,
    file: SafetensorsFile,
    where: string,
    options: Pick<FromPretrainedOptions, "log"> = {},
  ): DistilBertForSequenceClassification & { loadReport: LoadReport } {
    const model = new DistilBertForSequenceClassification(config);
    try {
      const loadReport = loadStateDict(model, file, where, {
        basePrefix: "distilbert",
        headPrefixes: ["pre_classifier", "classifier"],
        otherHeadPrefixes: ["vocab_transform", "vocab_layer_norm", "vocab_projector"],
        log: options.log,
      });
      return Object.assign(model, { loadReport });
    } catch (error) {
      model.dispose(); // the caller never sees this model: free its weights
      throw error;
    }
  }

  /** Write config.json and model.safetensors so that transformers' from_pretrained(dir) loads them. */
  async save(dir: string, options: SaveOptions = {}): Promise<void> {
    await saveCheckpoint(this, dir, configToHuggingFace(this.config, "DistilBertForSequenceClassification"), options);
  }

  /** ids [B, T], mask [B, T] -> logits [B, numLabels] */
  forward(inputIds: tf.Tensor, attentionMask?: tf.Tensor): tf.Tensor {
    // A frozen encoder (training the last layers only) gets no gradient: run off the tape, as
    // PyTorch would, its activations are freed as it goes instead of kept for a backward pass.
    const encoderFrozen = !this.distilbert.hasTrainableParameters();
    const encode = () => this.distilbert.forward(inputIds, attentionMask);
    const hidden = encoderFrozen ? withoutGradients(encode) : encode(); // [B, T, dim]
    const [B, , dim] = hidden.shape as number[];
    const first = hidden.slice([0, 0, 0], [B, 1, dim]).reshape([B, dim]); // the [CLS] position
    const pooled = this.dropout.forward(tf.relu(this.pre_classifier.forward(first)));
    return this.classifier.forward(pooled);
  }
}

/** DistilBERT with the masked-language-model head it was pretrained with; the projector shares the word embeddings. */
export class DistilBertForMaskedLM extends Module {
  static override typeName = "DistilBertForMaskedLM";

  activation: Module;
  distilbert: DistilBertModel;
  vocab_transform: Linear;
  vocab_layer_norm: LayerNorm;
  vocab_projector: Linear;
  mlm_loss_fct: CrossEntropyLoss;

  constructor(readonly config: DistilBertConfig = DISTILBERT_BASE) {
    super();
    this.activation = config.activation === "gelu" ? new GELUActivation() : new ReLU();
    this.distilbert = new DistilBertModel(config);
    this.vocab_transform = new Linear(config.dim, config.dim);
    this.vocab_layer_norm = new LayerNorm(config.dim, 1e-12);
    this.vocab_projector = new Linear(config.dim, config.vocabSize);
    this.mlm_loss_fct = new CrossEntropyLoss();
    initDistilBertWeights(this, config);
    // Tie: the projector's weight [vocab, dim] is the word-embedding matrix itself.
    this.vocab_projector.weight.dispose();
    this.vocab_projector.weight = this.distilbert.embeddings.word_embeddings.weight;
  }

  /** Load a Hugging Face checkpoint folder; a classifier's head is ignored, a missing MLM head freshly initialised. */
  static fromPretrained(dir: string, options: FromPretrainedOptions = {}): DistilBertForMaskedLM & { loadReport: LoadReport } {
    const model = new DistilBertForMaskedLM(readDistilBertConfig(dir, options.config));
    try {
      const loadReport = loadCheckpoint(model, dir, {
        basePrefix: "distilbert",
        headPrefixes: ["vocab_transform", "vocab_layer_norm", "vocab_projector"],
        otherHeadPrefixes: ["pre_classifier", "classifier"],
        log: options.log,
      });
      return Object.assign(model, { loadReport });
    } catch (error) {
      model.dispose(); // the caller never sees this model: free its weights
      throw error;
    }
  }

  async save(dir: string, options: SaveOptions = {}): Promise<void> {
    await saveCheckpoint(this, dir, configToHuggingFace(this.config, "DistilBertForMaskedLM"), options);
  }

  /** ids [B, T], mask [B, T] -> vocabulary logits [B, T, vocabSize] */
  forward(inputIds: tf.Tensor, attentionMask?: tf.Tensor): tf.Tensor {
    const hidden = this.distilbert.forward(inputIds, attentionMask);
    const transformed = this.vocab_layer_norm.forward(this.activation.forward(this.vocab_transform.forward(hidden)));
    return this.vocab_projector.forward(transformed);
  }
}

/**
 * Hugging Face's _init_weights: Linear and Embedding weights from N(0, initializerRange),
 * biases zero, LayerNorm weight one and bias zero, the padding embedding zero.
 */
export function initDistilBertWeights(model: Module, config: DistilBertConfig): void {
  for (const [, module] of model.namedModules()) {
    tf.tidy(() => {
      if (module instanceof Linear) {
        module.weight.assign(randn(module.weight.shape, config.initializerRange));
        module.bias?.assign(tf.zerosLike(module.bias));
      } else if (module instanceof Embedding) {
        const init = randn(module.weight.shape, config.initializerRange);
        module.weight.assign(module.paddingIdx === null ? init : zeroRow(init, module.paddingIdx));
      }
    });
  }
}
