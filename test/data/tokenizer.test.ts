import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { loadTokenizer, bertWordPieceJson, bertNormalize, parseVocab, Tokenizer } from "../../lib/data/tokenizer";
import { sha256 } from "../../lib/io/files";
import { vocabDir } from "../helpers/assets";

// bert-base-uncased's vocabulary is read where it is (the mirror or the download), never copied
// into the repo.
const CASES_FILE = path.join(__dirname, "..", "fixtures", "tokenizer", "cases.json");
const MAKE_CASES =
  "python scripts/fixtures/make_tokenizer_fixtures.py --vocab models/bert-base-uncased/vocab.txt " +
  "--out test/fixtures/tokenizer/cases.json  (needs `pip install tokenizers`)";

let vocabFile: string;
let tmp: string;
let fromVocab: Tokenizer;
let fromJson: Tokenizer;
let vocab: string[];
beforeAll(async () => {
  const dir = await vocabDir();
  vocabFile = path.join(dir, "vocab.txt");
  vocab = parseVocab(fs.readFileSync(vocabFile, "utf8"));
  fromVocab = await loadTokenizer(dir);
  // The tokenizer.json path, from the same tokenizer written out the way Python serialises it.
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tokenizer-test-"));
  fs.writeFileSync(path.join(tmp, "tokenizer.json"), JSON.stringify(bertWordPieceJson(vocab)));
  fs.writeFileSync(path.join(tmp, "tokenizer_config.json"), JSON.stringify({ do_lower_case: true, pad_token: "[PAD]", cls_token: { content: "[CLS]" } }));
  fromJson = await loadTokenizer(tmp);
});
afterAll(() => tmp && fs.rmSync(tmp, { recursive: true, force: true }));

/** A token's id, read from vocab.txt (its line number). */
const id = (token: string) => {
  const i = vocab.indexOf(token);
  if (i < 0) throw new Error(`"${token}" is not in vocab.txt`);
  return i;
};

describe("hand-checked cases (no fixture needed)", () => {
  test("hello world, special ids, size and name", () => {
    expect(fromVocab.encode("hello world")).toEqual([101, 7592, 2088, 102]);
    expect(fromVocab.encode("Hello, World!")).toEqual([101, 7592, id(","), 2088, id("!"), 102]);
    expect({ pad: fromVocab.padId, cls: fromVocab.clsId, sep: fromVocab.sepId, unk: fromVocab.unkId, size: fromVocab.vocabSize }).toEqual({
      pad: 0, cls: 101, sep: 102, unk: 100, size: 30522,
    });
    expect(fromVocab.name).toBe("bert-wordpiece-uncased:07eced375cec"); // sha256 of vocab.txt (VOCAB_SHA256 in lib/data/assets.ts)
    expect(fromJson.name).toMatch(/^tokenizer-json:[0-9a-f]{12}$/);
  });

  test("lowercasing, accents, CJK, subwords, unknown and over-long words", () => {
    expect(fromVocab.encode("CAFÉ")).toEqual([101, id("cafe"), 102]);
    expect(fromVocab.encode("中文")).toEqual([101, id("中"), id("文"), 102]);
    expect(fromVocab.encode("unaffable")).toEqual([101, id("una"), id("##ffa"), id("##ble"), 102]);
    expect(fromVocab.encode("😀")).toEqual([101, 100, 102]);
    expect(fromVocab.encode("a".repeat(101))).toEqual([101, 100, 102]); // over max_input_chars_per_word = 100
    expect(fromVocab.encode("")).toEqual([101, 102]);
    expect(fromVocab.encode(" \t\n ")).toEqual([101, 102]);
    expect(fromVocab.encode("hello [MASK]")).toEqual([101, 7592, 103, 102]); // special tokens match in raw text
  });

  test("the normalizer follows Rust's, where the JS library's does not", () => {
    // Rust lowercases one character at a time: no word-final ς.
    expect(bertNormalize("ΟΔΥΣΣΕΥΣ", {})).toBe("οδυσσευσ");
    expect(fromVocab.encode("ΟΣ")).toEqual([101, id("ο"), id("##σ"), 102]);
    // CJK ideographs beyond U+FFFF are spaced out too; Rust's list skips U+2B820..U+2B91F.
    expect(bertNormalize("a\u{20000}b", {})).toBe("a \u{20000} b");
    expect(bertNormalize("a\u{2B820}b", {})).toBe("a\u{2B820}b");
    expect(bertNormalize("tab\tnbsp\u00a0zw\u200bnul\u0000vt\u000b!", {})).toBe("tab nbsp zwnulvt!");
    expect(bertNormalize("Ångström", { lowercase: true })).toBe("angstrom");
    expect(bertNormalize("Ångström", { lowercase: false })).toBe("Ångström");
  });

  test("truncation keeps [SEP] last; maxLength defaults to 512", () => {
    const text = "one two three four five six";
    const full = fromVocab.encode(text);
    expect(fromVocab.encode(text, { maxLength: 5 })).toEqual([...full.slice(0, 4), 102]);
    expect(fromVocab.encode(text, { maxLength: 2 })).toEqual([101, 102]);
    expect(fromVocab.encode("word ".repeat(600))).toHaveLength(512);
    expect(() => fromVocab.encode(text, { maxLength: 1 })).toThrow("maxLength must be an integer >= 2");
  });

  test("encodeBatch pads with [PAD] to the longest and masks the padding", () => {
    expect(fromVocab.encodeBatch(["hello world", "hello", ""])).toEqual({
      inputIds: [[101, 7592, 2088, 102], [101, 7592, 102, 0], [101, 102, 0, 0]],
      attentionMask: [[1, 1, 1, 1], [1, 1, 1, 0], [1, 1, 0, 0]],
    });
    expect(fromVocab.encodeBatch(["one two three"], { maxLength: 3 }).inputIds).toEqual([[101, id("one"), 102]]);
    expect(fromVocab.encodeBatch([])).toEqual({ inputIds: [], attentionMask: [] });
  });

  test("decode leaves out special tokens and padding", () => {
    expect(fromVocab.decode([101, 7592, id(","), 2088, id("!"), 102, 0, 0])).toBe("hello, world!");
    expect(fromVocab.decode(fromVocab.encode("unaffable"))).toBe("unaffable");
    expect(fromVocab.decode([])).toBe("");
  });

  test("a tokenizer.json gives the same ids as vocab.txt", () => {
    for (const text of ["Hello, World!", "Crème brûlée <br /><br />中文 😀", "don't stop", "a".repeat(150), ""]) {
      expect(fromJson.encode(text, { maxLength: 12 })).toEqual(fromVocab.encode(text, { maxLength: 12 }));
    }
    expect([fromJson.padId, fromJson.clsId, fromJson.sepId, fromJson.unkId, fromJson.vocabSize]).toEqual([0, 101, 102, 100, 30522]);
  });

  test("folders it cannot use say why", async () => {
    const empty = fs.mkdtempSync(path.join(tmp, "empty-"));
    await expect(loadTokenizer(empty)).rejects.toThrow(`${empty}: no tokenizer.json or vocab.txt`);
    const bpe = fs.mkdtempSync(path.join(tmp, "bpe-"));
    fs.writeFileSync(path.join(bpe, "tokenizer.json"), JSON.stringify({ model: { type: "BPE", vocab: {}, merges: [] } }));
    await expect(loadTokenizer(bpe)).rejects.toThrow("model type BPE, but this library handles BERT-family WordPiece tokenizers only");
    const broken = fs.mkdtempSync(path.join(tmp, "broken-"));
    fs.writeFileSync(path.join(broken, "tokenizer.json"), "{");
    await expect(loadTokenizer(broken)).rejects.toThrow(`${path.join(broken, "tokenizer.json")}: not valid JSON`);
  });
});

// Parity with Python's `tokenizers` (the Rust library), on hand-written hard cases.
interface Case {
  name: string;
  text: string;
  ids: number[];
  tokens: string[];
  ids_truncated: number[];
  decoded: string;
}
const fixture: { cases: Case[]; truncate_to: number; vocab_sha256: string; tokenizer_json_without_vocab: Record<string, unknown> } | null =
  fs.existsSync(CASES_FILE) ? JSON.parse(fs.readFileSync(CASES_FILE, "utf8")) : null;

describe("parity with Python tokenizers (fixtures/tokenizer/cases.json)", () => {
  if (fixture === null) {
    test("the fixture exists", () => {
      throw new Error(`${CASES_FILE} is missing. Make it where Python's tokenizers is installed, from the project root:\n  ${MAKE_CASES}`);
    });
    return;
  }
  const { cases, truncate_to: maxLength } = fixture;

  test("the fixture was made from this vocab, with at least 40 cases", () => {
    expect(fixture.vocab_sha256).toBe(sha256(fs.readFileSync(vocabFile)));
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  test("bertWordPieceJson equals what Python's BertWordPieceTokenizer serialises to", () => {
    const ours = bertWordPieceJson(vocab) as { model: Record<string, unknown> };
    expect({ ...ours, model: { ...ours.model, vocab: "<omitted: read vocab.txt>" } }).toEqual(fixture.tokenizer_json_without_vocab);
  });

  describe.each([
    ["vocab.txt", () => fromVocab],
    ["tokenizer.json", () => fromJson],
  ])("from %s", (_, tokenizer) => {
    test.each(cases.map((c) => [c.name, c] as const))("%s", (_, c) => {
      const tok = tokenizer();
      const got = { ids: tok.encode(c.text), truncated: tok.encode(c.text, { maxLength }), decoded: tok.decode(c.ids) };
      expect(got).toEqual({ ids: c.ids, truncated: c.ids_truncated, decoded: c.decoded });
    });
  });
});
