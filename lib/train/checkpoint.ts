import * as tf from "@tensorflow/tfjs";
import * as fs from "fs";
import * as path from "path";
import { readSafetensors, writeSafetensors, WritableEntry } from "../io/safetensors";
import { writeFileAtomic } from "../io/files";
import type { Adam } from "./adam";

// A training checkpoint: where the run is (epoch, step, random stream), the trained parameters,
// the optimizer's moments and the best weights so far. Frozen weights are not saved: they come
// back from the model's own checkpoint or seeded initialisation. Two files, written so that an
// interruption never leaves a state a later run trusts: the tensors first (atomically, under a
// new name), then train-state.json (atomically) pointing at them; older tensor files go last.

export const STATE_FILE = "train-state.json";

export interface TrainState<Meta> {
  /** Whatever the trainer needs to continue (position, records so far); JSON. */
  meta: Meta;
  /** Trained parameters by path. */
  parameters: Map<string, tf.Tensor>;
  /** Adam's first and second moments by parameter path. */
  m: Map<string, tf.Tensor>;
  v: Map<string, tf.Tensor>;
  /** Best-validation weights by parameter path (may be empty). */
  best: Map<string, tf.Tensor>;
}

const GROUPS = ["parameters", "m", "v", "best"] as const;

export async function saveTrainState<Meta>(dir: string, tag: string, state: TrainState<Meta>): Promise<void> {
  await fs.promises.mkdir(dir, { recursive: true });
  const tensorsFile = `train-state-${tag}.safetensors`;
  const tensors = new Map<string, WritableEntry>();
  for (const group of GROUPS) {
    for (const [name, tensor] of state[group]) {
      tensors.set(`${group}/${name}`, { dtype: "F32", shape: tensor.shape.slice(), data: Float32Array.from((await tensor.data()) as Float32Array) });
    }
  }
  await writeSafetensors(path.join(dir, tensorsFile), tensors);
  await writeFileAtomic(path.join(dir, STATE_FILE), JSON.stringify({ tensorsFile, meta: state.meta }, null, 1) + "\n");
  for (const name of await fs.promises.readdir(dir)) {
    if (/^train-state-.*\.safetensors$/.test(name) && name !== tensorsFile) await fs.promises.rm(path.join(dir, name), { force: true });
  }
}

/** The saved state, or null when `dir` holds none. Tensors are new; the caller disposes them. */
export function loadTrainState<Meta>(dir: string): TrainState<Meta> | null {
  const stateFile = path.join(dir, STATE_FILE);
  if (!fs.existsSync(stateFile)) return null;
  let saved: { tensorsFile: string; meta: Meta };
  try {
    saved = JSON.parse(fs.readFileSync(stateFile, "utf8"));
  } catch (error) {
    throw new Error(`${stateFile}: not valid JSON (${(error as Error).message}); delete ${dir} to start afresh`);
  }
  const file = readSafetensors(path.join(dir, saved.tensorsFile));
  const state: TrainState<Meta> = { meta: saved.meta, parameters: new Map(), m: new Map(), v: new Map(), best: new Map() };
  for (const [key, entry] of file.tensors) {
    const slash = key.indexOf("/");
    const group = key.slice(0, slash) as (typeof GROUPS)[number];
    if (!GROUPS.includes(group)) throw new Error(`${saved.tensorsFile}: unexpected tensor "${key}"`);
    state[group].set(key.slice(slash + 1), tf.tensor(entry.data as Float32Array, entry.shape, "float32"));
  }
  return state;
}

export function disposeTrainState(state: TrainState<unknown>): void {
  for (const group of GROUPS) tf.dispose([...state[group].values()]);
}

/** What saveTrainState writes for a run that trains `parameters` (named `names`) with Adam. */
export function runState<Meta>(meta: Meta, names: string[], parameters: tf.Variable[], optimizer: Adam, best: tf.Tensor[] = []): TrainState<Meta> {
  const { moments } = optimizer.state();
  return {
    meta,
    parameters: new Map(names.map((name, i) => [name, parameters[i]])),
    m: new Map(names.map((name, i) => [name, moments[i].m])),
    v: new Map(names.map((name, i) => [name, moments[i].v])),
    best: new Map(best.map((weight, i) => [names[i], weight])),
  };
}

/** Put a saved run's parameters and Adam moments back (Adam at `optimizerStep`). */
export function restoreRunState(saved: TrainState<unknown>, names: string[], parameters: tf.Variable[], optimizer: Adam, optimizerStep: number): void {
  parameters.forEach((p, i) => p.assign(saved.parameters.get(names[i])!));
  optimizer.loadState(optimizerStep, names.map((name) => ({ m: saved.m.get(name)!, v: saved.v.get(name)! })));
}
