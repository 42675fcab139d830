import * as tf from "@tensorflow/tfjs";
import { Module, Linear, LayerNorm, Dropout, ModuleList, Sequential, ReLU, freeze, unfreeze, countParameters, LinearWithLoRA } from "../../lib";
import { useTestBackend } from "../helpers/backend";

beforeAll(() => useTestBackend());

class Attention extends Module {
  static override typeName = "Attention";

  q_lin: Linear;
  v_lin: Linear;
  dropout: Dropout;
  constructor() {
    super();
    this.q_lin = new Linear(4, 4);
    this.v_lin = new Linear(4, 4, false);
    this.dropout = new Dropout(0.5);
  }
  forward(x: tf.Tensor): tf.Tensor {
    return this.dropout.forward(tf.add(this.q_lin.forward(x), this.v_lin.forward(x)));
  }
}

class Net extends Module {
  static override typeName = "Net";

  scale: tf.Variable;
  layers: ModuleList<Attention>;
  norm: LayerNorm;
  constructor() {
    super();
    this.scale = tf.tidy(() => tf.variable(tf.ones([1])));
    this.layers = new ModuleList([new Attention(), new Attention()]);
    this.norm = new LayerNorm(4);
  }
  forward(x: tf.Tensor): tf.Tensor {
    for (const layer of this.layers) x = layer.forward(x);
    return tf.mul(this.norm.forward(x), this.scale);
  }
}

describe("the module tree", () => {
  test("namedParameters: own first, then children in assignment order, with PyTorch's dotted paths", () => {
    const net = new Net();
    expect(net.namedParameters().map(([name, p]) => `${name} [${p.shape}]`)).toEqual([
      "scale [1]",
      "layers.0.q_lin.weight [4,4]",
      "layers.0.q_lin.bias [4]",
      "layers.0.v_lin.weight [4,4]",
      "layers.1.q_lin.weight [4,4]",
      "layers.1.q_lin.bias [4]",
      "layers.1.v_lin.weight [4,4]",
      "norm.weight [4]",
      "norm.bias [4]",
    ]);
    expect(net.parameters()).toHaveLength(9);
    expect(net.namedModules().map(([name]) => name)).toEqual([
      "", "layers", "layers.0", "layers.0.q_lin", "layers.0.v_lin", "layers.0.dropout",
      "layers.1", "layers.1.q_lin", "layers.1.v_lin", "layers.1.dropout", "norm",
    ]);
  });

  test("replacing a child by assignment keeps its place, and the tree sees the new child", () => {
    const net = new Net();
    const before = net.layers[1].q_lin;
    net.layers[1].q_lin = new LinearWithLoRA(net.layers[1].q_lin, 2, 1) as unknown as Linear;
    const names = net.namedParameters().map(([name]) => name);
    expect(names.slice(4, 9)).toEqual([
      "layers.1.q_lin.linear.weight",
      "layers.1.q_lin.linear.bias",
      "layers.1.q_lin.lora.A",
      "layers.1.q_lin.lora.B",
      "layers.1.v_lin.weight",
    ]);
    expect(net.getSubmodule("layers.1.q_lin.linear")).toBe(before);
  });

  test("getSubmodule / setSubmodule by path, with errors that name the path", () => {
    const net = new Net();
    const replacement = new Linear(4, 4);
    net.setSubmodule("layers.0.v_lin", replacement);
    expect(net.layers[0].v_lin).toBe(replacement);
    expect(() => net.getSubmodule("layers.0.k_lin")).toThrow('Attention has no child module "k_lin" (in path "layers.0.k_lin")');
    expect(() => net.setSubmodule("layers.7.q_lin", replacement)).toThrow('ModuleList has no child module "7"');
    expect(() => net.setSubmodule("layers.0.typo", replacement)).toThrow('Attention has no child module "typo" to replace');
  });

  test("a parameter shared by two modules counts once", () => {
    const a = new Linear(3, 3);
    const b = new Linear(3, 3);
    b.weight = a.weight;
    const model = new Sequential(a, b);
    expect(model.namedParameters().map(([name]) => name)).toEqual(["0.weight", "0.bias", "1.bias"]);
    expect(countParameters(model)).toBe(9 + 3 + 3);
  });

  test("train() and eval() reach every child, and dropout follows", () => {
    const net = new Net();
    net.eval();
    expect(net.namedModules().every(([, m]) => !m.training)).toBe(true);
    const x = tf.ones([2, 4]);
    expect(tf.equal(net.layers[0].dropout.forward(x), x).all().dataSync()[0]).toBe(1);
    net.train();
    expect(net.namedModules().every(([, m]) => m.training)).toBe(true);
  });

  test("freeze, unfreeze and countParameters give PyTorch's counts", () => {
    const net = new Net();
    // scale 1 + 2 x (q: 16 + 4, v: 16) + norm 4 + 4
    expect(countParameters(net)).toBe(1 + 2 * 36 + 8);
    freeze(net);
    expect(countParameters(net, { trainableOnly: true })).toBe(0);
    unfreeze(net.layers[0].q_lin);
    expect(countParameters(net, { trainableOnly: true })).toBe(20);
    expect(net.trainableParameters()).toEqual([net.layers[0].q_lin.weight, net.layers[0].q_lin.bias]);
    unfreeze(net);
    expect(countParameters(net, { trainableOnly: true })).toBe(81);
  });

  test("ModuleList indexing, push, iteration; Sequential chains forward", () => {
    const list = new ModuleList<Linear>();
    list.push(new Linear(2, 3));
    list.push(new Linear(3, 1));
    expect(list.length).toBe(2);
    expect([...list].map((l) => l.outFeatures)).toEqual([3, 1]);
    expect(() => list.forward()).toThrow("ModuleList has no forward()");
    const seq = new Sequential(list[0], new ReLU(), list[1]);
    const x = tf.tensor2d([[1, -2]]);
    const expected = list[1].forward(tf.relu(list[0].forward(x)));
    expect(seq.forward(x).arraySync()).toEqual(expected.arraySync());
  });

  test("dispose frees every parameter", () => {
    const before = tf.memory().numTensors;
    const net = new Net();
    expect(tf.memory().numTensors - before).toBe(9);
    net.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
