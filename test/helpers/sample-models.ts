import { Module, printModel } from "../../lib/nn/module";
import { CrossEntropyLoss, Dropout, Embedding, GELU, LayerNorm, Linear, ReLU } from "../../lib/nn/layers";
import { ModuleList, Sequential } from "../../lib/nn/containers";
import { LinearWithLoRAMerged, LoRALayer } from "../../lib/lora/lora";
import { applyLoRA } from "../../lib/lora/apply";
import { DistilBertForMaskedLM, DistilBertForSequenceClassification, distilBertConfig } from "../../lib/models/distilbert";

// Small models that hold every Module class of lib/, printed: the same text must come out of the
// library as ts-jest loads it and of a bundle whose classes were renamed (test/nn/type-name.test.ts).

/** print(model) of each sample model; the models are freed afterwards. */
export function printSampleModels(): string[] {
  const config = distilBertConfig({ vocabSize: 50, maxPositionEmbeddings: 16, dim: 8, nLayers: 2, nHeads: 2, hiddenDim: 16 });
  const classifier = new DistilBertForSequenceClassification(config);
  applyLoRA(classifier, { rank: 2, alpha: 4, targets: ["q_lin", "v_lin"] }); // LinearWithLoRA, LoRALayer
  const models: Module[] = [
    classifier, // also Embeddings, DistilBertSelfAttention, FFN, TransformerBlock, Transformer, DistilBertModel, GELUActivation
    new DistilBertForMaskedLM(config), // also CrossEntropyLoss
    new Sequential(
      new Embedding(10, 4, { paddingIdx: 0 }),
      new LayerNorm(4),
      new LinearWithLoRAMerged(new Linear(4, 4), 2, 4),
      new ReLU(),
      new GELU("tanh"),
      new Dropout(0.1),
      new ModuleList([new LoRALayer(4, 4, 2, 1), new LoRALayer(4, 4, 2, 1)]),
      new CrossEntropyLoss(),
    ),
  ];
  const texts = models.map(printModel);
  for (const model of models) model.dispose();
  return texts;
}

/** Each class's name as the running code sees it (`constructor.name`): what a bundler may change. */
export function sampleClassNames(): string[] {
  return [new Linear(2, 2), new ReLU(), new LoRALayer(2, 2, 1, 1)].map((module) => {
    const name = module.constructor.name;
    module.dispose();
    return name;
  });
}
