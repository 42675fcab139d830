// npm run model:download [-- --repo distilbert-base-uncased] [--out models/distilbert-base-uncased] [--endpoint URL]
//
// Fetches the pretrained DistilBERT the tutorial fine-tunes (weights, config, tokenizer) from the
// Hugging Face hub, with progress bars and resume. Then:
//   npm run experiment -- --profile full --model models/distilbert-base-uncased ...
import * as path from "path";
import { parseArgs } from "util";
import { downloadFromHub, DISTILBERT_FILES } from "../lib/models/hub";
import { UnreachableError } from "../lib/io/download";

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      repo: { type: "string", default: "distilbert-base-uncased" },
      out: { type: "string" },
      endpoint: { type: "string" },
      revision: { type: "string", default: "main" },
      help: { type: "boolean" },
    },
  });
  if (values.help) {
    console.log(`npm run model:download -- [--repo NAME] [--out DIR] [--endpoint URL] [--revision REV]\n  files: ${DISTILBERT_FILES.join(", ")}`);
    return 0;
  }
  const repo = values.repo!;
  const dir = values.out ?? path.join("models", repo.split("/").pop()!);
  try {
    await downloadFromHub({ repo, dir, endpoint: values.endpoint, revision: values.revision });
    console.log(`done: ${dir} (use it with --model ${dir})`);
    return 0;
  } catch (error) {
    if (error instanceof UnreachableError) {
      console.error(`model:download: ${error.message}\nThe pretrained weights come from the Hugging Face hub, which needs the internet. ` +
        `On a machine without it, copy ${DISTILBERT_FILES.join(", ")} of ${repo} into ${dir} yourself.`);
    } else {
      console.error(`model:download: ${(error as Error).message}`);
    }
    return 1;
  }
}

main().then((code) => process.exit(code));
