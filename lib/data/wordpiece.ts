import * as hf from "@huggingface/tokenizers";

// Text to token ids for BERT-family models (DistilBERT uses bert-base-uncased's vocabulary).
// @huggingface/tokenizers (a JS port of HF's Rust `tokenizers`) does the work, built from
// tokenizer.json, or from vocab.txt through the tokenizer.json that Python's
// BertWordPieceTokenizer(vocab, lowercase=True) serialises to. Its BERT normalizer is swapped for
// an exact port of the Rust one (bertNormalize below): the JS one differs from Python's on
// uppercase Greek (final sigma) and on CJK characters outside the 16-bit range. This file works on
// the files' text (a web page uses it as it is); reading them from a folder is tokenizer.ts.

export interface Tokenizer {
  /** Stable id for caches: kind plus the first 12 hex digits of the sha256 of the files it was built from. */
  readonly name: string;
  readonly vocabSize: number;
  readonly padId: number;
  readonly clsId: number;
  readonly sepId: number;
  readonly unkId: number;
  /** [MASK], what masked-language-model pretraining puts in place of the tokens to predict. */
  readonly maskId: number;
  /** [CLS] tokens [SEP], cut to maxLength (default 512) with [SEP] kept last, as Python's enable_truncation(maxLength). */
  encode(text: string, options?: { maxLength?: number }): number[];
  /** encode() for each text, padded with padId to the longest in the batch; the mask is 1 on tokens, 0 on padding. */
  encodeBatch(texts: string[], options?: { maxLength?: number }): { inputIds: number[][]; attentionMask: number[][] };
  /** Text from ids, special tokens and padding left out (Python's tok.decode(ids) default). */
  decode(ids: number[]): string;
}

export const DEFAULT_MAX_LENGTH = 512;

/** The name of the tokenizer built from a vocab.txt whose sha256 (hex) is `vocabSha256`. */
export function vocabTokenizerName(vocabSha256: string): string {
  return `bert-wordpiece-uncased:${vocabSha256.slice(0, 12)}`;
}

/**
 * A tokenizer from the text of its files: tokenizer.json (with tokenizer_config.json's text, or ""),
 * or vocab.txt as bert-base-uncased's lowercasing WordPiece tokenizer. `name` is its cache id
 * (loadTokenizer derives it from the files' sha256); `where` names the files in errors.
 */
export function tokenizerFromText(
  files: { tokenizerJson: string; tokenizerConfig?: string } | { vocab: string },
  name: string,
  where = "tokenizer",
): Tokenizer {
  if ("vocab" in files) return new BertTokenizer(name, bertWordPieceJson(parseVocab(files.vocab)), {});
  const parsed = parseJson(files.tokenizerJson, `${where}/tokenizer.json`) as { model?: { type?: string } };
  if (parsed.model?.type !== "WordPiece") {
    throw new Error(`${where}/tokenizer.json: model type ${parsed.model?.type}, but this library handles BERT-family WordPiece tokenizers only`);
  }
  const options = files.tokenizerConfig ? (parseJson(files.tokenizerConfig, `${where}/tokenizer_config.json`) as Record<string, unknown>) : {};
  return new BertTokenizer(name, parsed, options);
}

/** vocab.txt: one token per line, its id the line number (as Rust's WordPiece::read_file, which trims line ends). */
export function parseVocab(text: string): string[] {
  const lines = text.split("\n").map((line) => line.trimEnd());
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** The tokenizer.json that Python's BertWordPieceTokenizer(vocab, lowercase=True) serialises to. */
export function bertWordPieceJson(vocab: string[]): Record<string, unknown> {
  const ids = Object.fromEntries(vocab.map((token, id) => [token, id])); // a repeated token keeps its last line, as in Rust
  const id = (token: string) => {
    if (!Object.hasOwn(ids, token)) throw new Error(`the vocabulary has no ${token}, which a BERT tokenizer needs`);
    return ids[token];
  };
  // Special tokens, each only if the vocab has it, as BertWordPieceTokenizer adds them: matched in raw text, never split.
  const added = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].filter((token) => Object.hasOwn(ids, token));
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added
      .map((content) => ({ id: id(content), content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }))
      .sort((a, b) => a.id - b.id),
    normalizer: { type: "BertNormalizer", clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: { type: "BertProcessing", sep: ["[SEP]", id("[SEP]")], cls: ["[CLS]", id("[CLS]")] },
    decoder: { type: "WordPiece", prefix: "##", cleanup: true },
    model: { type: "WordPiece", unk_token: "[UNK]", continuing_subword_prefix: "##", max_input_chars_per_word: 100, vocab: ids },
  };
}

class BertTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly padId: number;
  readonly clsId: number;
  readonly sepId: number;
  readonly unkId: number;
  readonly maskId: number;
  private readonly inner: hf.Tokenizer;

  constructor(readonly name: string, json: Record<string, unknown>, config: Record<string, unknown>) {
    this.inner = new hf.Tokenizer(json, config);
    const normalizer = json.normalizer as { type?: string } | null;
    if (normalizer?.type === "BertNormalizer") this.inner.normalizer = new RustBertNormalizer(normalizer as hf.Normalizer["config"]);
    const special = (key: string, fallback: string) => {
      const value = config[key];
      const token = typeof value === "string" ? value : ((value as { content?: string } | undefined)?.content ?? fallback);
      const id = this.inner.token_to_id(token);
      if (id === undefined) throw new Error(`tokenizer ${name}: its vocabulary has no ${key} ${token}`);
      return id;
    };
    this.padId = special("pad_token", "[PAD]");
    this.clsId = special("cls_token", "[CLS]");
    this.sepId = special("sep_token", "[SEP]");
    this.unkId = special("unk_token", "[UNK]");
    this.maskId = special("mask_token", "[MASK]");
    this.vocabSize = this.inner.model!.vocab.length;
  }

  encode(text: string, options: { maxLength?: number } = {}): number[] {
    const maxLength = options.maxLength ?? DEFAULT_MAX_LENGTH;
    if (!(Number.isInteger(maxLength) && maxLength >= 2)) throw new Error(`maxLength must be an integer >= 2 (room for [CLS] and [SEP]), got ${maxLength}`);
    // Truncate the text's tokens before adding [CLS] and [SEP], as Rust's truncation does.
    const ids = this.inner.encode(text, { add_special_tokens: false }).ids;
    return [this.clsId, ...ids.slice(0, maxLength - 2), this.sepId];
  }

  encodeBatch(texts: string[], options: { maxLength?: number } = {}): { inputIds: number[][]; attentionMask: number[][] } {
    const encoded = texts.map((text) => this.encode(text, options));
    const longest = Math.max(0, ...encoded.map((ids) => ids.length));
    return {
      inputIds: encoded.map((ids) => [...ids, ...new Array<number>(longest - ids.length).fill(this.padId)]),
      attentionMask: encoded.map((ids) => [...new Array<number>(ids.length).fill(1), ...new Array<number>(longest - ids.length).fill(0)]),
    };
  }

  decode(ids: number[]): string {
    if (ids.length === 0) return ""; // the JS library throws on an empty list
    // No extra clean-up pass: Python's WordPiece decoder only cleans each token, so "it ' s" stays.
    return this.inner.decode(ids, { skip_special_tokens: true, clean_up_tokenization_spaces: false });
  }
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`${where}: not valid JSON (${(error as Error).message})`);
  }
}

/** BertNormalizer's options, as tokenizer.json writes them. */
interface BertNormalizerOptions {
  clean_text?: boolean;
  handle_chinese_chars?: boolean;
  strip_accents?: boolean | null;
  lowercase?: boolean;
}

class RustBertNormalizer extends hf.Normalizer {
  normalize(text: string): string {
    return bertNormalize(text, this.config as BertNormalizerOptions);
  }
}

// Characters as Rust's BertNormalizer classes them (tokenizers/src/normalizers/bert.rs).
// Dropped by clean_text: NUL, U+FFFD and "control" (categories Cc Cf Co Cs) except \t \n \r.
const DROPPED = /[\0\uFFFD\p{Cc}\p{Cf}\p{Co}\p{Cs}]/u;
// Unicode White_Space other than " " (which needs no change): each becomes " ". The C0/C1 controls
// among them (\v \f U+0085) are dropped instead, since control is tested first; \t \n \r are not.
const CLEANED = /[\0\uFFFD\p{Cc}\p{Cf}\p{Co}\p{Cs}\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]/gu;
// The CJK ideograph blocks Rust's is_chinese_char lists (sic: from U+2B920, not U+2B820).
const CJK = /[\u{4E00}-\u{9FFF}\u{3400}-\u{4DBF}\u{20000}-\u{2A6DF}\u{2A700}-\u{2B73F}\u{2B740}-\u{2B81F}\u{2B920}-\u{2CEAF}\u{F900}-\u{FAFF}\u{2F800}-\u{2FA1F}]/gu;
const NON_ASCII = /[^\0-\x7F]/;

/**
 * Rust's BertNormalizer, step by step and in its order: clean text, space out CJK ideographs,
 * strip accents (NFD, then drop nonspacing marks), lowercase one character at a time.
 */
export function bertNormalize(text: string, options: BertNormalizerOptions): string {
  const lowercase = options.lowercase ?? true;
  if (options.clean_text ?? true) {
    text = text.replace(CLEANED, (c) => (c === "\t" || c === "\n" || c === "\r" || !DROPPED.test(c) ? " " : ""));
  }
  if (options.handle_chinese_chars ?? true) text = text.replace(CJK, " $& ");
  if ((options.strip_accents ?? lowercase) && NON_ASCII.test(text)) text = text.normalize("NFD").replace(/\p{Mn}/gu, "");
  // Per character, as Rust's char::to_lowercase: String.toLowerCase alone would turn a word-final Σ into ς.
  if (lowercase) text = text.replace(/Σ/g, "σ").toLowerCase();
  return text;
}
