/** The in-memory fakes of the recommender's read ports pass the same contracts as the adapters. */
import { emptyProfile } from '../../functions/domain/interest-profile';
import { aggregatesContract } from '../support/contracts/aggregates';
import { impressionLogContract } from '../support/contracts/impression-log';
import { itemViewsContract } from '../support/contracts/item-views';
import { profileReaderContract } from '../support/contracts/profile-reader';
import { InMemoryImpressionLog } from '../support/fakes/impression-log';
import { InMemoryItemViews } from '../support/fakes/item-views';
import { InMemoryProfileRepository } from '../support/fakes/profile-repository';

itemViewsContract('InMemoryItemViews', () => {
  const items = new InMemoryItemViews();
  return { items, putItem: async (item) => items.putItem(item) };
});

profileReaderContract('InMemoryProfileRepository', () => {
  const repository = new InMemoryProfileRepository();
  return { reader: repository, repository };
});

aggregatesContract('InMemoryProfileRepository', () => {
  const repository = new InMemoryProfileRepository();
  let writer = 0;
  return {
    aggregates: repository,
    // Popularity arrives with a commit of some user's events.
    addPopularity: async (weights) => {
      const userId = `writer-${++writer}`;
      const next = { profile: emptyProfile(userId, 4, 0), version: 1, settingsId: 'contract', epoch: 0 };
      await repository.commit(userId, [], next, undefined, weights, 0);
    },
    addImpressions: (weights) => repository.addImpressions(weights),
    addCoEngagement: (pairs) => repository.addCoEngagement(pairs),
  };
});

impressionLogContract('InMemoryImpressionLog', () => new InMemoryImpressionLog());
