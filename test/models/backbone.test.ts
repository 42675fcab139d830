import * as fs from "fs";
import * as path from "path";
import * as tf from "@tensorflow/tfjs";
import { DistilBertForMaskedLM, DistilBertForSequenceClassification, countParameters } from "../../lib/index";
import { QUICK_BACKBONE_DIR } from "../../lib/train/experiment";
import { loadTokenizer, Tokenizer } from "../../lib/data/tokenizer";
import { mlmLoss, maskTokens } from "../../lib/train/mlm";
import { mulberry32 } from "../../lib/nn/random";
import { vocabDir } from "../helpers/assets";
import { useTestBackend } from "../helpers/backend";

// The backbone the quick profile fine-tunes, shipped in models/distilbert-mini-imdb: a Hugging Face
// folder of bf16 weights that loads as any checkpoint does, and whose pretraining shows in what it
// predicts for hidden words.

let tokenizer: Tokenizer;
let mlm: DistilBertForMaskedLM;
beforeAll(async () => {
  await useTestBackend();
  tokenizer = await loadTokenizer(await vocabDir());
  mlm = DistilBertForMaskedLM.fromPretrained(QUICK_BACKBONE_DIR, { log: () => undefined });
  mlm.eval();
});
afterAll(() => mlm?.dispose());

test("a 4 x 128 DistilBERT with bert-base-uncased's vocabulary, in at most 12 MB", () => {
  const bytes = fs.readdirSync(QUICK_BACKBONE_DIR).reduce((sum, f) => sum + fs.statSync(path.join(QUICK_BACKBONE_DIR, f)).size, 0);
  expect(bytes).toBeLessThanOrEqual(12 * 2 ** 20);
  const { config } = mlm;
  expect([config.nLayers, config.dim, config.nHeads, config.hiddenDim, config.vocabSize]).toEqual([4, 128, 2, 512, 30522]);
  // 30,522 x 128 shared word embeddings, 512 x 128 positions, 4 blocks of 198,272, the vocabulary head
  expect(countParameters(mlm)).toBe(4_812_986);
  expect(mlm.vocab_projector.weight).toBe(mlm.distilbert.embeddings.word_embeddings.weight);
});

test("the classifier loads its encoder and starts the head fresh", () => {
  const lines: string[] = [];
  const model = DistilBertForSequenceClassification.fromPretrained(QUICK_BACKBONE_DIR, { log: (line) => lines.push(line) });
  expect(countParameters(model)).toBe(4_782_466); // the encoder and a 128 -> 128 -> 2 head
  expect(lines.join("\n")).toContain("newly initialized: [pre_classifier.weight, pre_classifier.bias, classifier.weight, classifier.bias]");
  // The checkpoint is named as a reader finds it from the working folder (the repository's root here), not by the machine's absolute path.
  expect(lines.join("\n")).toContain("from the checkpoint at models/distilbert-mini-imdb and are newly initialized");
  const same = tf.tidy(() => tf.max(tf.abs(tf.sub(model.distilbert.embeddings.word_embeddings.weight, mlm.distilbert.embeddings.word_embeddings.weight))).dataSync()[0]);
  expect(same).toBe(0);
  model.dispose();
});

/** The five likeliest words for the one [MASK] in `text`. */
function fill(text: string): string[] {
  const ids = tokenizer.encode(text);
  const at = ids.indexOf(tokenizer.maskId);
  const best = tf.tidy(() => tf.topk(mlm.forward(tf.tensor2d([ids], undefined, "int32")).slice([0, at, 0], [1, 1, -1]).reshape([-1]), 5).indices.dataSync());
  return Array.from(best, (id) => tokenizer.decode([id]));
}

test("it fills a hidden word with one that fits the review's sentiment", () => {
  expect(fill("this movie was [MASK] and i loved it .")[0]).toBe("great");
  expect(fill("the acting was [MASK] , i want my money back .").slice(0, 2)).toEqual(["terrible", "horrible"]);
  expect(fill("one of the best [MASK] i have ever seen .").slice(0, 2)).toEqual(["movies", "films"]);
});

test("its masked-language-model loss on unseen text is far below what token frequencies alone give", () => {
  // Text of our own, not from IMDb: 15% of its tokens hidden 80/10/10, as in pretraining.
  const text =
    "i watched this film last night with my family . the story was simple but the actors made it work , and the music " +
    "was lovely . the ending dragged a little , yet i would happily see it again . my brother thought the plot was silly " +
    "and the jokes were old , but even he laughed at the dog . it is not a masterpiece , just a warm and funny movie .";
  const ids = Int32Array.from(tokenizer.encode(text));
  const attention = new Int32Array(ids.length).fill(1);
  const losses: number[] = [];
  for (let seed = 1; seed <= 8; seed++) {
    const next = mulberry32(seed);
    const masking = { maskId: tokenizer.maskId, vocabSize: tokenizer.vocabSize, specialIds: [tokenizer.padId, tokenizer.clsId, tokenizer.sepId] };
    const { inputIds, labels } = maskTokens(ids, attention, masking, () => next() / 4294967296);
    if (!labels.some((l) => l >= 0)) continue;
    losses.push(tf.tidy(() => mlmLoss(mlm, tf.tensor2d(inputIds, [1, ids.length], "int32"), tf.tensor2d(attention, [1, ids.length], "int32"), labels).dataSync()[0]));
  }
  const mean = losses.reduce((a, b) => a + b, 0) / losses.length;
  // A model that knows only token frequencies scores about 6.6 on IMDb's text (chapter 07); a uniform guess 10.33.
  expect(mean).toBeLessThan(4.5);
});

test("its forward pass equals Hugging Face transformers' on the same weights", () => {
  // scripts/fixtures/make_backbone_reference.py: the [MASK] position's ten largest logits and the last layer's [CLS] vector.
  const reference = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "fixtures", "distilbert-mini-imdb-reference.json"), "utf8")) as {
    cases: { text: string; ids: number[]; top_ids: number[]; top_logits: number[]; cls_hidden: number[] }[];
  };
  for (const c of reference.cases) {
    expect(tokenizer.encode(c.text)).toEqual(c.ids);
    const ids = tf.tensor2d([c.ids], undefined, "int32");
    const logits = tf.tidy(() => mlm.forward(ids).slice([0, c.ids.indexOf(tokenizer.maskId), 0], [1, 1, -1]).reshape([-1]).dataSync());
    const ours = c.top_ids.map((id) => logits[id]);
    ours.forEach((v, i) => expect(Math.abs(v - c.top_logits[i])).toBeLessThan(1e-3));
    const best = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]).slice(0, 10);
    expect(best).toEqual(c.top_ids);
    const cls = tf.tidy(() => mlm.distilbert.forward(ids).slice([0, 0, 0], [1, 1, -1]).reshape([-1]).dataSync());
    c.cls_hidden.forEach((v, i) => expect(Math.abs(cls[i] - v)).toBeLessThan(1e-4));
    ids.dispose();
  }
});
