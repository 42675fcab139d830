// The public API: notebooks, scripts and users import from here. Nothing in lib/ imports this
// file (it imports them all), so it can never close an import cycle.

// Modules, layers and the module tree (chapter 00).
export { Module, printModel } from "./nn/module";
export { Linear, Embedding, LayerNorm, Dropout, GELU, ReLU, CrossEntropyLoss } from "./nn/layers";
export type { LinearLike } from "./nn/layers";
export { ModuleList, Sequential } from "./nn/containers";
export { freeze, unfreeze, countParameters } from "./nn/parameters";
export { manualSeed, getRandomState, setRandomState, mulberry32, randn, randUniform, permutation } from "./nn/random";
export * as F from "./nn/functional";
export { matmul, linear } from "./nn/functional";

// LoRA: the layers, putting them in a model and taking them out, adapters in PEFT's format.
export { LoRALayer, LinearWithLoRA, LinearWithLoRAMerged, loraScale } from "./lora/lora";
export type { LoRAScaling } from "./lora/lora";
export { applyLoRA, mergeLoRA, loraTargetsFromFlags } from "./lora/apply";
export type { LoRAFlags, ApplyLoRAOptions } from "./lora/apply";
export { saveAdapter, loadAdapter, mergeAndUnload, adapterSize, adapterFiles, applyAdapter } from "./lora/adapter";
export type { SaveAdapterOptions, LoadedAdapter, AdapterFiles } from "./lora/adapter";

// The backend tfjs computes on.
export { initBackend, backendInfo, BACKENDS } from "./backend";
export type { BackendName, BackendInfo, BackendOptions } from "./backend";

// DistilBERT, its checkpoints and the Hugging Face Hub.
export {
  DistilBertModel, DistilBertForSequenceClassification, DistilBertForMaskedLM, DISTILBERT_BASE, distilBertConfig,
  configFromHuggingFace, configToHuggingFace, readDistilBertConfig,
} from "./models/distilbert";
export type { DistilBertConfig, FromPretrainedOptions } from "./models/distilbert";
export { loadCheckpoint, loadStateDict, saveCheckpoint } from "./models/checkpoint";
export type { LoadOptions, LoadReport, SaveOptions } from "./models/checkpoint";
export { downloadFromHub, DISTILBERT_FILES } from "./models/hub";
export type { HubDownloadOptions } from "./models/hub";
export { readSafetensors, readSafetensorsDir, writeSafetensors, parseSafetensors, serializeSafetensors, SafetensorsError } from "./io/safetensors";
export type { SafetensorsFile, SafetensorsEntry, WritableEntry, WritableDtype } from "./io/safetensors";

// Data: the IMDb pipeline's barrel (download, splits, token cache, batches, stats), the tokenizer, subsets.
export * from "./data/index";
export { loadTokenizer, tokenizerFromText, DEFAULT_MAX_LENGTH } from "./data/tokenizer";
export type { Tokenizer } from "./data/tokenizer";
export { firstReviews } from "./data/subset";

// Training, evaluation, experiments and the grid search (chapters 01 to 04).
export { train, TUTORIAL_TRAIN_CONFIG, DivergedError, replicasFor, MAX_AUTO_REPLICAS } from "./train/train";
export { DataParallel } from "./train/data-parallel";
export type { ModelRecipe } from "./train/data-parallel";
export { replicaRecipe } from "./train/replica-recipe";
export { queueTrainStep, readStep, trainStep } from "./train/step";
export type { TrainConfig, TrainData, TrainOptions, TrainResult, EpochRecord, StepInfo } from "./train/train";
export { Adam } from "./train/adam";
export type { AdamOptions } from "./train/adam";
export { evaluateAccuracy } from "./train/evaluate";
export {
  MODES, TUTORIAL_LORA, PROFILES, QUICK_MODEL, QUICK_BACKBONE_DIR, defaultSpec, defaultTokenizerDir, prepareForMode,
  loadExperimentData, loadExperimentModel, experimentResult, writeResult, runExperiment,
} from "./train/experiment";
export type { Mode, Profile, LoRASettings, ProfileSettings, ExperimentSpec, ExperimentResult } from "./train/experiment";
export { runGrid, gridRows, gridStatus, gridTable, gridPoints, FLAG_SETS, TUTORIAL_GRID } from "./train/grid";
export type { Grid, FlagSet, GridPoint, GridRow, GridOptions } from "./train/grid";

// Masked-language-model pretraining (chapter 07).
export { maskTokens, mlmLoss, pretrainMlm, tokenCounts, unigramEntropy, IGNORE_INDEX } from "./train/mlm";
export type { MaskingOptions, MlmConfig, MlmStepRecord, MlmResult, PretrainOptions } from "./train/mlm";

// Showing results: figures and tables in the notebook, progress, numbers for people.
export { showFigure, showHtml } from "./util/display";
export type { PlotlyFigure } from "./util/display";
export { figureSvg } from "./util/figure-svg";
export { Progress, formatBytes, formatDuration } from "./util/progress";
export type { ProgressOptions, ProgressStream } from "./util/progress";
export { pct } from "./util/format";
