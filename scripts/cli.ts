// Node's util.parseArgs with the scripts' usual behaviour: --help, and errors that end with the usage.
import { parseArgs, ParseArgsConfig } from "util";

type Options = NonNullable<ParseArgsConfig["options"]>;

export function parseCli(argv: string[], options: Options, usage: string, allowPositionals = false): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  if (argv.includes("--help") || argv.includes("-h")) throw new Error(usage);
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals, strict: true });
    for (const [flag, value] of Object.entries(values)) {
      if (value === "") throw new Error(`--${flag} needs a value`);
    }
    return { values: values as Record<string, string | boolean | undefined>, positionals };
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${usage}`);
  }
}
