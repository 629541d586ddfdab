import { RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { CatalogueIngestion } from './constructs/catalogue-ingestion';
import { tableFromDefinition } from './constructs/data-tables';
import { ModelLayers } from './constructs/model-layers';
import { ITEMS_TABLE } from './resources';

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
  /**
   * RETAIN keeps tables and the bucket when the stack is deleted; DESTROY is for throwaway dev stacks.
   * @default RemovalPolicy.RETAIN
   */
  readonly dataRemovalPolicy?: RemovalPolicy;
  /** Tries of an upload's notification before it is dead-lettered. @default 5 */
  readonly ingestMaxReceiveCount?: number;
}

/** Composes Lookalike's capabilities; the props are the knobs a user turns. */
export class LookalikeStack extends Stack {
  public readonly layers: ModelLayers;
  public readonly ingestion: CatalogueIngestion;

  constructor(scope: Construct, id: string, props: LookalikeStackProps = {}) {
    super(scope, id, props);
    const removalPolicy = props.dataRemovalPolicy ?? RemovalPolicy.RETAIN;
    this.layers = new ModelLayers(this, 'Layers', { modelDir: props.modelDir, runtimeDir: props.runtimeDir });
    const itemsTable = tableFromDefinition(this, ITEMS_TABLE, removalPolicy);
    this.ingestion = new CatalogueIngestion(this, 'Catalogue', {
      itemsTable,
      layers: this.layers,
      removalPolicy,
      maxReceiveCount: props.ingestMaxReceiveCount,
    });
  }
}
