/**
 * The promotion's adapters on the real stand-ins: projection artefacts on the S3 stand-in (written
 * once, with If-None-Match) and the re-projection's view of the Items table on DynamoDB Local pass
 * the same contracts as their fakes.
 */
import { ItemSpaces } from '../../functions/adapters/dynamodb/item-spaces';
import { CatalogueRepository } from '../../functions/adapters/dynamodb/item-store';
import { S3ProjectionArtefacts } from '../../functions/adapters/s3/projection-artefacts';
import { projectionArtefactsContract, projectionTargetsContract } from '../support/contracts/learned-space';
import { useLocalStack } from '../support/local-stack';

const local = useLocalStack();

projectionArtefactsContract('S3ProjectionArtefacts on the S3 stand-in', () => ({
  artefacts: new S3ProjectionArtefacts(local.s3Client, local.bucket),
}));

projectionTargetsContract('ItemSpaces and CatalogueRepository on DynamoDB Local', () => {
  const items = local.tables.Items as string;
  const repository = new CatalogueRepository(local.dynamoDbClient, items);
  const spaces = new ItemSpaces(local.dynamoDbClient, items);
  return {
    repository,
    targets: {
      readyVectors: (space) => spaces.readyVectors(space),
      addVectorIfCurrent: (...args) => repository.addVectorIfCurrent(...args),
    },
  };
});
