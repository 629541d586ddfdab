/**
 * The DynamoDB adapter of the event write path's ports (ProfileStore) on DynamoDB Local passes the
 * same contract as the in-memory fake the use-case unit tests use.
 */
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { vectorToBytes } from '../../functions/adapters/dynamodb/item-table';
import { ProfileStore, storeTablesOf } from '../../functions/adapters/dynamodb/profile-store';
import { profileRepositoryContract } from '../support/contracts/profile-repository';
import { useLocalStack } from '../support/local-stack';

const MODEL_ID = 'contract-model';
const local = useLocalStack();

profileRepositoryContract('ProfileStore on DynamoDB Local', () => {
  const tables = storeTablesOf(local.tables);
  const store = new ProfileStore(local.dynamoDbClient, tables, MODEL_ID);
  const documents = DynamoDBDocumentClient.from(local.dynamoDbClient);
  return {
    repository: store,
    popularity: () => store.popularity(),
    putItem: async ({ itemId, status, available, vector }) => {
      await documents.send(
        new PutCommand({
          TableName: tables.items,
          Item: {
            itemId,
            status,
            available,
            ...(vector ? { vectors: { [MODEL_ID]: vectorToBytes(vector) } } : {}),
          },
        }),
      );
    },
  };
});
