import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { ModelLayers } from './constructs/model-layers';

export interface LookalikeStackProps extends StackProps {
  /**
   * Folder with the model's manifest.json and ONNX file.
   * @default layers/model/dist
   */
  readonly modelDir?: string;
  /**
   * Folder with the runtime layer (nodejs/node_modules).
   * @default layers/runtime
   */
  readonly runtimeDir?: string;
}

/** Composes Lookalike's capabilities; the props are the knobs a user turns. */
export class LookalikeStack extends Stack {
  public readonly layers: ModelLayers;

  constructor(scope: Construct, id: string, props: LookalikeStackProps = {}) {
    super(scope, id, props);
    this.layers = new ModelLayers(this, 'Layers', { modelDir: props.modelDir, runtimeDir: props.runtimeDir });
  }
}
