/**
 * The DynamoDB adapters of the recommender's read ports on DynamoDB Local and the S3 stand-in pass
 * the same contracts as the in-memory fakes the recommend unit tests use: CatalogueReader (ItemViews),
 * ProfileStoreReader (ProfileReader, Aggregates, on the Profiles and Stats tables only), the
 * AggregateCache over it, and DynamoImpressionLog (ImpressionLog, ImpressionEraser).
 */
import { AggregateCache } from '../../functions/adapters/dynamodb/aggregate-cache';
import { impressionShard } from '../../functions/adapters/dynamodb/impression-counts';
import { DynamoImpressionLog } from '../../functions/adapters/dynamodb/impression-log';
import { CatalogueRepository } from '../../functions/adapters/dynamodb/item-store';
import { CatalogueReader } from '../../functions/adapters/dynamodb/item-views';
import {
  ProfileStore,
  ProfileStoreReader,
  storeTablesOf,
} from '../../functions/adapters/dynamodb/profile-store';
import { OnceCounters } from '../../functions/adapters/dynamodb/stats-counters';
import { emptyProfile } from '../../functions/domain/interest-profile';
import { type AggregatesFixture, aggregatesContract } from '../support/contracts/aggregates';
import { impressionLogContract } from '../support/contracts/impression-log';
import { itemViewsContract } from '../support/contracts/item-views';
import { profileReaderContract } from '../support/contracts/profile-reader';
import { useLocalStack } from '../support/local-stack';

const MODEL_ID = 'contract-model';
const local = useLocalStack();

const readerOf = () => {
  const { profiles, stats } = storeTablesOf(local.tables);
  return new ProfileStoreReader(local.dynamoDbClient, { profiles, stats });
};

itemViewsContract('CatalogueReader on DynamoDB Local', () => {
  const tables = storeTablesOf(local.tables);
  const repository = new CatalogueRepository(local.dynamoDbClient, tables.items);
  return {
    items: new CatalogueReader(local.dynamoDbClient, local.s3Client, tables.items),
    // The contract's items are full catalogue items, their S3 order included: stored as ingestion stores them.
    putItem: async (item) => {
      await repository.putIfNewer(item, item.updatedAt);
    },
  };
});

profileReaderContract('ProfileStoreReader on DynamoDB Local', () => ({
  reader: readerOf(),
  repository: new ProfileStore(local.dynamoDbClient, storeTablesOf(local.tables), MODEL_ID),
}));

function aggregatesFixture(aggregates: (reader: ProfileStoreReader) => AggregatesFixture['aggregates']) {
  return (): AggregatesFixture => {
    const store = new ProfileStore(local.dynamoDbClient, storeTablesOf(local.tables), MODEL_ID);
    let writer = 0;
    return {
      aggregates: aggregates(readerOf()),
      // Popularity arrives with a commit of some user's events.
      addPopularity: async (weights) => {
        const userId = `writer-${Date.now()}-${++writer}`;
        const next = { profile: emptyProfile(userId, 4, 0), version: 1, settingsId: 'contract', epoch: 0 };
        await store.commit(userId, [], next, undefined, weights, 0);
      },
      // Impressions arrive through the Impressions stream's consumer: one stream record each call.
      addImpressions: async (weights) => {
        const counters = new OnceCounters(
          local.dynamoDbClient,
          storeTablesOf(local.tables).stats,
          'impressions',
        );
        await counters.addOnce([
          {
            recordId: `contract-${Date.now()}-${++writer}`,
            increments: weights.map(({ itemId, weight }) => ({
              pk: impressionShard(itemId),
              sk: itemId,
              weight,
            })),
          },
        ]);
      },
      addCoEngagement: (pairs) => store.addCoEngagement(pairs),
    };
  };
}

aggregatesContract(
  'ProfileStoreReader on DynamoDB Local',
  aggregatesFixture((reader) => reader),
);
aggregatesContract(
  'AggregateCache over ProfileStoreReader on DynamoDB Local',
  aggregatesFixture((reader) => new AggregateCache(reader)),
);

impressionLogContract(
  'DynamoImpressionLog on DynamoDB Local',
  () => new DynamoImpressionLog(local.dynamoDbClient, local.tables.Impressions as string),
);
