// Fine-tune DistilBERT on IMDb one of the tutorial's ways, from the command line.
//
//   npm run experiment -- --mode lora --lora-r 8 --lora-alpha 16 --model DIR --backend webgpu --out results/lora.json
//
// Run with --help for every flag.
import { runExperiment } from "../lib/train/experiment";
import { parseExperimentArgs, checkExperimentSpec, EXPERIMENT_HELP } from "./experiment-options";

async function main(): Promise<void> {
  const { spec, values } = parseExperimentArgs(process.argv.slice(2), `npm run experiment -- [flags]\n${EXPERIMENT_HELP}`);
  await checkExperimentSpec(spec, { force: Boolean(values.force) });
  await runExperiment(spec);
}

main().catch((error: Error) => {
  console.error(`experiment: ${error.message}`);
  process.exit(1);
});
