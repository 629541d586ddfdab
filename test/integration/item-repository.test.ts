/**
 * The DynamoDB adapter of ingestion's item repository (CatalogueRepository) on DynamoDB Local passes
 * the same contract as the in-memory fake the ingest unit tests use.
 */
import { CatalogueRepository } from '../../functions/adapters/dynamodb/item-store';
import { itemRepositoryContract } from '../support/contracts/item-repository';
import { useLocalStack } from '../support/local-stack';

const local = useLocalStack();

itemRepositoryContract('CatalogueRepository on DynamoDB Local', () => ({
  repository: new CatalogueRepository(local.dynamoDbClient, local.tables.Items ?? ''),
}));
