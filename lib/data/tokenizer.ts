import * as fs from "fs";
import * as path from "path";
import { sha256 } from "../io/files";
import { tokenizerFromText, vocabTokenizerName, Tokenizer } from "./wordpiece";

// A tokenizer from its folder; building one from the files' text is wordpiece.ts.
export * from "./wordpiece";

/**
 * The tokenizer in `dir`: from tokenizer.json (+ tokenizer_config.json when present) if there is
 * one, else from vocab.txt as bert-base-uncased's lowercasing WordPiece tokenizer.
 */
export async function loadTokenizer(dir: string): Promise<Tokenizer> {
  const file = (name: string) => path.join(dir, name);
  if (fs.existsSync(file("tokenizer.json"))) {
    const tokenizerJson = await fs.promises.readFile(file("tokenizer.json"), "utf8");
    const tokenizerConfig = fs.existsSync(file("tokenizer_config.json")) ? await fs.promises.readFile(file("tokenizer_config.json"), "utf8") : "";
    return tokenizerFromText({ tokenizerJson, tokenizerConfig }, `tokenizer-json:${sha256(tokenizerJson + "\0" + tokenizerConfig).slice(0, 12)}`, dir);
  }
  if (fs.existsSync(file("vocab.txt"))) {
    const vocab = await fs.promises.readFile(file("vocab.txt"), "utf8");
    return tokenizerFromText({ vocab }, vocabTokenizerName(sha256(vocab)), dir);
  }
  throw new Error(`${dir}: no tokenizer.json or vocab.txt, so no tokenizer can be built from it`);
}
