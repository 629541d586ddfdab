// Jest's node environment with the host realm's Float32Array. onnxruntime-node creates output
// tensors from host typed arrays, and onnxruntime-common, loaded inside Jest's sandbox, checks them with
// `instanceof Float32Array` against the sandbox's own class: every inference failed with "A float32
// tensor's data must be type of function Float32Array()".
const { TestEnvironment } = require('jest-environment-node');

class NodeEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    this.global.Float32Array = Float32Array;
  }
}

module.exports = NodeEnvironment;
