import { RemovalPolicy } from 'aws-cdk-lib';
import {
  AttributeType,
  Billing,
  type CfnGlobalTable,
  type ITableV2,
  ProjectionType,
  StreamViewType,
  TableEncryptionV2,
  TableV2,
} from 'aws-cdk-lib/aws-dynamodb';
import type { Construct } from 'constructs';
import type { KeyAttribute, TableDefinition } from '../../functions/contract/storage';

const attributeType = (key: KeyAttribute) =>
  ({ S: AttributeType.STRING, N: AttributeType.NUMBER, B: AttributeType.BINARY })[key.type];

const STREAMS = {
  NEW_IMAGE: StreamViewType.NEW_IMAGE,
  NEW_AND_OLD_IMAGES: StreamViewType.NEW_AND_OLD_IMAGES,
  KEYS_ONLY: StreamViewType.KEYS_ONLY,
};

/** A table exactly as the shared definition says (the local harness creates the same one). */
export function tableFromDefinition(
  scope: Construct,
  definition: TableDefinition,
  removalPolicy: RemovalPolicy,
): TableV2 {
  return new TableV2(scope, definition.id, {
    partitionKey: { name: definition.partitionKey.name, type: attributeType(definition.partitionKey) },
    ...(definition.sortKey
      ? { sortKey: { name: definition.sortKey.name, type: attributeType(definition.sortKey) } }
      : {}),
    billing: Billing.onDemand(),
    encryption: TableEncryptionV2.awsManagedKey(),
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    removalPolicy,
    deletionProtection: removalPolicy === RemovalPolicy.RETAIN,
    ...(definition.timeToLiveAttribute ? { timeToLiveAttribute: definition.timeToLiveAttribute } : {}),
    ...(definition.stream ? { dynamoStream: STREAMS[definition.stream] } : {}),
    globalSecondaryIndexes: (definition.globalIndexes ?? []).map((index) => ({
      indexName: index.indexName,
      partitionKey: { name: index.partitionKey.name, type: attributeType(index.partitionKey) },
      ...(index.sortKey ? { sortKey: { name: index.sortKey.name, type: attributeType(index.sortKey) } } : {}),
      ...(index.projection === 'ALL'
        ? { projectionType: ProjectionType.ALL }
        : index.projection === 'KEYS_ONLY'
          ? { projectionType: ProjectionType.KEYS_ONLY }
          : { projectionType: ProjectionType.INCLUDE, nonKeyAttributes: index.projection }),
    })),
  });
}

export type { ITableV2 };

/**
 * DynamoDB's native vector index on the items table (the `dynamodb-vector` backend): cosine over the
 * active model's vector, with `category` as an inline filter so category requests filter in the index.
 */
export function addItemVectorIndex(
  table: TableV2,
  definition: TableDefinition,
  options: { indexName: string; attribute: string; dimensions: number },
): void {
  if (!Number.isInteger(options.dimensions) || options.dimensions < 1 || options.dimensions > 4096) {
    throw new Error(
      `addItemVectorIndex: DynamoDB vector indexes take 1..4096 dimensions, got ${options.dimensions}`,
    );
  }
  const cfn = table.node.defaultChild as CfnGlobalTable;
  const keys = [
    definition.partitionKey,
    ...(definition.sortKey ? [definition.sortKey] : []),
    ...(definition.globalIndexes ?? []).flatMap((index) => [
      index.partitionKey,
      ...(index.sortKey ? [index.sortKey] : []),
    ]),
    { name: 'category', type: 'S' as const },
  ];
  const unique = [...new Map(keys.map((key) => [key.name, key])).values()];
  // Search-schema attributes must be declared like keys; the L2 only declares key attributes.
  cfn.addPropertyOverride(
    'AttributeDefinitions',
    unique.map((key) => ({ AttributeName: key.name, AttributeType: key.type })),
  );
  cfn.vectorIndexes = [
    {
      indexName: options.indexName,
      dimensions: options.dimensions,
      distanceFunction: 'COSINE',
      vectorAttribute: { attributeName: options.attribute },
      projection: { projectionType: 'INCLUDE', nonKeyAttributes: ['available'] },
      searchSchema: [{ attributeName: 'category', searchSchemaElementType: 'INLINE_FILTER' }],
    },
  ];
}
