/** The in-memory fake of the event write path's ports passes the same contract as the DynamoDB adapter. */
import { profileRepositoryContract } from '../support/contracts/profile-repository';
import { InMemoryProfileRepository } from '../support/fakes/profile-repository';

profileRepositoryContract('InMemoryProfileRepository', () => {
  const repository = new InMemoryProfileRepository();
  return {
    repository,
    putItem: async (item) => repository.putItem(item),
    popularity: () => repository.popularity(),
  };
});
