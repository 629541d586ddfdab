/** The in-memory fake of ingestion's item repository passes the same contract as the DynamoDB adapter. */
import { itemRepositoryContract } from '../support/contracts/item-repository';
import { InMemoryItemRepository } from '../support/fakes/item-repository';

itemRepositoryContract('InMemoryItemRepository', () => ({ repository: new InMemoryItemRepository() }));
