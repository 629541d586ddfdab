import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, Billing, type ITableV2, ProjectionType, StreamViewType, TableEncryptionV2, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import type { Construct } from 'constructs';
import type { KeyAttribute, TableDefinition } from '../resources';

const attributeType = (key: KeyAttribute) =>
  ({ S: AttributeType.STRING, N: AttributeType.NUMBER, B: AttributeType.BINARY })[key.type];

const STREAMS = {
  NEW_IMAGE: StreamViewType.NEW_IMAGE,
  NEW_AND_OLD_IMAGES: StreamViewType.NEW_AND_OLD_IMAGES,
  KEYS_ONLY: StreamViewType.KEYS_ONLY,
};

/** A table exactly as the shared definition says (the local harness creates the same one). */
export function tableFromDefinition(scope: Construct, definition: TableDefinition, removalPolicy: RemovalPolicy): TableV2 {
  return new TableV2(scope, definition.id, {
    partitionKey: { name: definition.partitionKey.name, type: attributeType(definition.partitionKey) },
    ...(definition.sortKey ? { sortKey: { name: definition.sortKey.name, type: attributeType(definition.sortKey) } } : {}),
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
