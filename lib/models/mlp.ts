import * as tf from "@tensorflow/tfjs";
import { Module } from "../nn/module";
import { Linear, ReLU } from "../nn/layers";
import { Sequential } from "../nn/containers";

// Chapter 00's toy network, the one LoRA is first tried on: three Linear layers with ReLUs between.
// The chapter defines it in the same words; the book's live version of the chapter imports it here.

export class MultilayerPerceptron extends Module {
  static override typeName = "MultilayerPerceptron";

  layers: Sequential;

  constructor(numFeatures: number, numHidden1: number, numHidden2: number, numClasses: number) {
    super();
    this.layers = new Sequential(
      new Linear(numFeatures, numHidden1),
      new ReLU(),
      new Linear(numHidden1, numHidden2),
      new ReLU(),
      new Linear(numHidden2, numClasses),
    );
  }

  forward(x: tf.Tensor): tf.Tensor {
    return this.layers.forward(x);
  }
}
