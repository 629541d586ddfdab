// Jest's node environment with the host realm's Float32Array. onnxruntime-node creates output
// tensors from host typed arrays, and onnxruntime-common, loaded inside Jest's sandbox, checks them with
// `instanceof Float32Array` against the sandbox's own class: every inference failed with "A float32
// tensor's data must be type of function Float32Array()".
//
// It also removes the cloud assemblies the test file synthesized. An App without an outdir synthesizes
// into a new `cdk.out*` folder of the temp directory and never removes it; each holds a copy of the
// runtime layer (64 MB) and the bundles, and a full run leaves hundreds of them (tens of GB: a
// machine that runs the suite again and again fills its disk). Test files run one at a time, so the
// folders that appeared while this one ran are its own. So that this holds when other test runs share
// the machine (another checkout's, a CI simulation), each Jest process gets a temp directory of its
// own (TMPDIR), removed when the process exits: no other run can see its folders, nor remove them.
const { mkdtempSync, readdirSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { TestEnvironment } = require('jest-environment-node');

if (!process.env.LOOKALIKE_JEST_TMPDIR) {
  const own = mkdtempSync(join(tmpdir(), 'lookalike-jest-'));
  process.env.LOOKALIKE_JEST_TMPDIR = own;
  process.env.TMPDIR = own;
  process.on('exit', () => rmSync(own, { recursive: true, force: true }));
}

const assemblies = () => {
  try {
    return readdirSync(tmpdir()).filter((name) => name.startsWith('cdk.out'));
  } catch {
    return [];
  }
};

class NodeEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    this.global.Float32Array = Float32Array;
    this.assembliesBefore = new Set(assemblies());
  }

  async teardown() {
    for (const name of assemblies()) {
      if (!this.assembliesBefore.has(name)) rmSync(join(tmpdir(), name), { recursive: true, force: true });
    }
    await super.teardown();
  }
}

module.exports = NodeEnvironment;
