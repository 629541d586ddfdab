/** The promotion's in-memory ports pass the same contracts as the S3 and DynamoDB adapters. */
import { projectionArtefactsContract, projectionTargetsContract } from '../support/contracts/learned-space';
import { InMemoryItemRepository } from '../support/fakes/item-repository';
import { InMemoryProjectionArtefacts, projectionTargets } from '../support/fakes/learned-space';

projectionArtefactsContract('InMemoryProjectionArtefacts', () => ({
  artefacts: new InMemoryProjectionArtefacts(),
}));
projectionTargetsContract('projectionTargets over InMemoryItemRepository', () => {
  const repository = new InMemoryItemRepository();
  return { targets: projectionTargets(repository), repository };
});
