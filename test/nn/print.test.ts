import { pyFloat, pyTuple, indent, withCommas } from "../../lib/nn/print";
import { Module, Linear, LayerNorm, Dropout, Embedding, ModuleList, Sequential, ReLU, GELU, LoRALayer, LinearWithLoRA, printModel } from "../../lib";
import { useTestBackend } from "../helpers/backend";
import * as tf from "@tensorflow/tfjs";

beforeAll(() => useTestBackend());

describe("Python formatting", () => {
  test.each([
    [0.1, "0.1"],
    [0, "0.0"],
    [2, "2.0"],
    [1e-5, "1e-05"],
    [3e-5, "3e-05"],
    [1e-12, "1e-12"],
    [1e-4, "0.0001"],
    [1e16, "1e+16"],
    [123456789012345.6, "123456789012345.6"],
    [0.25, "0.25"],
    [-1.5e-7, "-1.5e-07"],
  ])("pyFloat(%p) = %p", (value, expected) => expect(pyFloat(value)).toBe(expected));

  test("tuples, indentation, thousands", () => {
    expect(pyTuple([768])).toBe("(768,)");
    expect(pyTuple([3, 5])).toBe("(3, 5)");
    expect(indent("a\nb\nc", 2)).toBe("a\n  b\n  c");
    expect(indent("single", 2)).toBe("single");
    expect(withCommas(66955010)).toBe("66,955,010");
  });
});

class Block extends Module {
  static override typeName = "Block";

  attention: Linear;
  norm: LayerNorm;
  constructor(eps = 1e-12, bias = true) {
    super();
    this.attention = new Linear(4, 4, bias);
    this.norm = new LayerNorm(4, eps);
  }
  forward(x: tf.Tensor): tf.Tensor {
    return this.norm.forward(this.attention.forward(x));
  }
}

describe("printModel is PyTorch's print(model)", () => {
  test("leaf modules", () => {
    expect(printModel(new Linear(768, 3072))).toBe("Linear(in_features=768, out_features=3072, bias=True)");
    expect(printModel(new Linear(3, 2, false))).toBe("Linear(in_features=3, out_features=2, bias=False)");
    expect(printModel(new LayerNorm(768, 1e-12))).toBe("LayerNorm((768,), eps=1e-12, elementwise_affine=True)");
    expect(printModel(new LayerNorm([3, 5]))).toBe("LayerNorm((3, 5), eps=1e-05, elementwise_affine=True)");
    expect(printModel(new Dropout(0.1))).toBe("Dropout(p=0.1, inplace=False)");
    expect(printModel(new Dropout(0))).toBe("Dropout(p=0.0, inplace=False)");
    expect(printModel(new Embedding(30522, 768, { paddingIdx: 0 }))).toBe("Embedding(30522, 768, padding_idx=0)");
    expect(printModel(new Embedding(10, 4, { paddingIdx: -1 }))).toBe("Embedding(10, 4, padding_idx=9)");
    expect(printModel(new Embedding(512, 768))).toBe("Embedding(512, 768)");
    expect(printModel(new ReLU())).toBe("ReLU()");
    expect(printModel(new GELU())).toBe("GELU(approximate='none')");
    expect(printModel(new LoRALayer(4, 4, 2, 1))).toBe("LoRALayer()"); // parameters never print
    expect(String(new Linear(2, 2))).toBe("Linear(in_features=2, out_features=2, bias=True)");
  });

  test("nesting and the grouping of equal neighbours in a ModuleList", () => {
    const blocks = new ModuleList([new Block(), new Block(), new Block(), new Block(1e-5), new Block(), new Block()]);
    expect(printModel(blocks)).toBe(
      [
        "ModuleList(",
        "  (0-2): 3 x Block(",
        "    (attention): Linear(in_features=4, out_features=4, bias=True)",
        "    (norm): LayerNorm((4,), eps=1e-12, elementwise_affine=True)",
        "  )",
        "  (3): Block(",
        "    (attention): Linear(in_features=4, out_features=4, bias=True)",
        "    (norm): LayerNorm((4,), eps=1e-05, elementwise_affine=True)",
        "  )",
        "  (4-5): 2 x Block(",
        "    (attention): Linear(in_features=4, out_features=4, bias=True)",
        "    (norm): LayerNorm((4,), eps=1e-12, elementwise_affine=True)",
        "  )",
        ")",
      ].join("\n"),
    );
    expect(printModel(new ModuleList())).toBe("ModuleList()");
  });

  test("a replaced child prints in its old place; Sequential never groups", () => {
    const block = new Block();
    block.attention = new LinearWithLoRA(block.attention, 2, 4) as unknown as Linear;
    const model = new Sequential(block, new ReLU(), new ReLU());
    expect(printModel(model)).toBe(
      [
        "Sequential(",
        "  (0): Block(",
        "    (attention): LinearWithLoRA(",
        "      (linear): Linear(in_features=4, out_features=4, bias=True)",
        "      (lora): LoRALayer()",
        "    )",
        "    (norm): LayerNorm((4,), eps=1e-12, elementwise_affine=True)",
        "  )",
        "  (1): ReLU()",
        "  (2): ReLU()",
        ")",
      ].join("\n"),
    );
  });
});
