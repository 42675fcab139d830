// The public API: notebooks, scripts and users import from here.
export { Module, printModel } from "./nn/module";
export { Linear, Embedding, LayerNorm, Dropout, GELU, ReLU, CrossEntropyLoss } from "./nn/layers";
export type { LinearLike } from "./nn/layers";
export { ModuleList, Sequential } from "./nn/containers";
export { freeze, unfreeze, countParameters } from "./nn/parameters";
export { manualSeed } from "./nn/random";
export * as F from "./nn/functional";
export { LoRALayer, LinearWithLoRA, LinearWithLoRAMerged, loraScale } from "./lora/lora";
export type { LoRAScaling } from "./lora/lora";
export { applyLoRA, mergeLoRA, loraTargetsFromFlags } from "./lora/apply";
export type { LoRAFlags, ApplyLoRAOptions } from "./lora/apply";
export { initBackend, backendInfo, BACKENDS } from "./backend";
export type { BackendName, BackendInfo } from "./backend";
export {
  DistilBertModel, DistilBertForSequenceClassification, DistilBertForMaskedLM, DISTILBERT_BASE, distilBertConfig,
  configFromHuggingFace, configToHuggingFace, readDistilBertConfig,
} from "./models/distilbert";
export type { DistilBertConfig, FromPretrainedOptions } from "./models/distilbert";
export { saveAdapter, loadAdapter, mergeAndUnload, adapterSize } from "./lora/adapter";
