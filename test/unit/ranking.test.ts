import type { SearchVectorsCommandInput } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import {
  DynamoVectorRetriever,
  filteredOverFetch,
  vectorServing,
} from '../../functions/adapters/dynamodb/vector-retriever';
import { DEFAULT_PROFILE_SETTINGS, foldEvents } from '../../functions/domain/interest-profile';
import {
  DEFAULT_EXPLORATION,
  DEFAULT_RANKING_SETTINGS,
  explorationPositions,
  interleaveExploration,
  maximalMarginalRelevance,
  normalised,
  rankForUser,
} from '../../functions/domain/ranking';
import { ExactIndex } from '../../functions/vector-index';

const unit = (...values: number[]) => {
  const norm = Math.hypot(...values);
  return Float32Array.from(values.map((v) => v / norm));
};

describe('maximal marginal relevance', () => {
  const a1 = { id: 'a1', score: 0.3, vector: unit(1, 0.05, 0) };
  const a2 = { id: 'a2', score: 0.29, vector: unit(1, 0.06, 0) };
  const b1 = { id: 'b1', score: 0.2, vector: unit(0, 1, 0) };

  it('is plain relevance order at lambda 1', () => {
    expect(maximalMarginalRelevance([b1, a2, a1], 3, 1).map((c) => c.id)).toEqual(['a1', 'a2', 'b1']);
  });

  it('puts a different item before a near-duplicate, on rescaled relevance', () => {
    expect(maximalMarginalRelevance([a1, a2, b1], 2, 0.6).map((c) => c.id)).toEqual(['a1', 'b1']);
  });

  /** The textbook greedy MMR: every candidate against every pick, every round. */
  const referenceMmr = <T extends { score: number; vector: Float32Array }>(
    candidates: T[],
    limit: number,
    lambda: number,
  ): T[] => {
    const remaining = [...candidates].sort((a, b) => b.score - a.score);
    const top = remaining[0]?.score ?? 0;
    const relevance = (c: T) => (top > 0 ? c.score / top : c.score);
    const cos = (a: Float32Array, b: Float32Array) => a.reduce((sum, v, i) => sum + v * (b[i] as number), 0);
    const picked: T[] = [];
    while (picked.length < Math.min(limit, remaining.length)) {
      let best: T | undefined;
      let bestValue = -Infinity;
      for (const c of remaining) {
        if (picked.includes(c)) continue;
        const redundancy = Math.max(0, ...picked.map((p) => cos(c.vector, p.vector)));
        const value = lambda * relevance(c) - (1 - lambda) * redundancy;
        if (value > bestValue) {
          bestValue = value;
          best = c;
        }
      }
      picked.push(best as T);
    }
    return picked;
  };

  it('picks exactly what the textbook greedy MMR picks, though it stops scanning early', () => {
    const candidate = fc.record({
      id: fc.uuid(),
      // Scores in thousandths: a top score of 1e-300 would make relevance infinite in both versions.
      score: fc.integer({ min: -1000, max: 2000 }).map((v) => v / 1000),
      vector: fc
        .array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 4, maxLength: 4 })
        .filter((v) => v.some((x) => Math.abs(x) > 1e-3))
        .map((v) => unit(...v)),
    });
    fc.assert(
      fc.property(
        fc.array(candidate, { maxLength: 40 }),
        fc.integer({ min: 1, max: 12 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (candidates, limit, lambda) => {
          const ours = maximalMarginalRelevance(candidates, limit, lambda).map((c) => c.id);
          expect(ours).toEqual(referenceMmr(candidates, limit, lambda).map((c) => c.id));
        },
      ),
      { numRuns: 500, seed: 7 },
    );
  });
});

describe('rankForUser', () => {
  // Two tastes on different axes: a tight one (hearts) and a loose one (vehicles).
  const index = new ExactIndex(4);
  const now = Date.UTC(2026, 5, 1);
  const spread = (i: number, scale: number) =>
    [scale * Math.sin(i * 1.7), scale * Math.cos(i * 2.3)] as const;
  for (let i = 0; i < 20; i++) {
    const [a, b] = spread(i, 0.15);
    index.upsert(`heart-${i}`, unit(1, a, b, 0), { available: true, category: 'heart' });
  }
  for (let i = 0; i < 20; i++) {
    const [a, b] = spread(i, 0.6);
    index.upsert(`car-${i}`, unit(a, 1, 0, b), { available: true, category: 'car' });
  }
  for (let i = 0; i < 20; i++) {
    const [a, b] = spread(i, 0.5);
    index.upsert(`other-${i}`, unit(-1, a, 1, b), { available: i !== 3, category: 'other' });
  }
  const events = [
    ...['heart-0', 'heart-1'].map((itemId, i) => ({
      type: 'like' as const,
      itemId,
      at: now - 1000 + i,
      vector: index.vector(itemId),
    })),
    ...['car-0', 'car-1'].map((itemId, i) => ({
      type: 'like' as const,
      itemId,
      at: now - 500 + i,
      vector: index.vector(itemId),
    })),
  ];
  const profile = foldEvents('u', 4, events, DEFAULT_PROFILE_SETTINGS);
  const rank = (request: Parameters<typeof rankForUser>[1], extra: object = {}) =>
    rankForUser(
      {
        index,
        profile,
        profileSettings: DEFAULT_PROFILE_SETTINGS,
        settings: DEFAULT_RANKING_SETTINGS,
        now,
        ...extra,
      },
      request,
    );

  it('serves both tastes, with the liked item each result is closest to as its reason', () => {
    const ranked = rank({ limit: 10, excludeSeen: true });
    const categories = ranked.map((r) => r.itemId.split('-')[0]);
    expect(categories.filter((c) => c === 'heart').length).toBeGreaterThanOrEqual(3);
    expect(categories.filter((c) => c === 'car').length).toBeGreaterThanOrEqual(3);
    for (const item of ranked) {
      expect(item.reason).toMatchObject({ kind: 'similar_to' });
      expect((item.reason as { itemId: string }).itemId.split('-')[0]).toBe(item.itemId.split('-')[0]);
    }
    expect(ranked.map((r) => r.itemId)).not.toEqual(expect.arrayContaining(['heart-0']));
  });

  it('honours category filters and exclusions and still fills the list', () => {
    const ranked = rank({ limit: 15, filter: { categories: ['other'] } });
    expect(ranked).toHaveLength(15);
    expect(ranked.every((r) => r.itemId.startsWith('other-') && r.itemId !== 'other-3')).toBe(true);
  });

  it('pulls co-engaged items into the list when there is enough co-engagement, and not when its weight is 0', () => {
    const coEngagement = new Map([['other-7', 10]]);
    // Co-engagement is a bonus on top of the visual score: give it a weight that can lift a stranger.
    const strong = { ...DEFAULT_RANKING_SETTINGS, coEngagementWeight: 1.5 };
    expect(rank({ limit: 10 }, { coEngagement, settings: strong }).map((r) => r.itemId)).toContain('other-7');
    const off = rank({ limit: 10 }, { coEngagement, settings: { ...strong, coEngagementWeight: 0 } });
    expect(off.map((r) => r.itemId)).not.toContain('other-7');
  });
});

describe('the dynamodb-vector backend (mocked client: DynamoDB Local has no vector index)', () => {
  const settings = { table: 'Items', indexName: 'byVector', modelId: 'm1', dim: 3 };
  const vectorBytes = (v: Float32Array) => new Uint8Array(v.buffer.slice(0));

  it('builds SearchVectors requests with float32 numbers, capped TopK and the category filter', () => {
    const retriever = new DynamoVectorRetriever({ send: async () => ({}) } as never, settings);
    const request = retriever.request(Float32Array.from([0.1, 0.2, 0.3]), 500, 'hearts');
    expect(request).toEqual({
      TableName: 'Items',
      IndexName: 'byVector',
      SearchVector: [
        { N: String(Math.fround(0.1)) },
        { N: String(Math.fround(0.2)) },
        { N: String(Math.fround(0.3)) },
      ],
      TopK: 100,
      ProjectionExpression: 'itemId',
      SearchConditionExpression: '#category = :category',
      ExpressionAttributeNames: { '#category': 'category' },
      ExpressionAttributeValues: { ':category': { S: 'hearts' } },
    } satisfies SearchVectorsCommandInput);
    expect(() => retriever.request(new Float32Array(4), 10)).toThrow(/3 dimensions/);
  });

  it('turns COSINE distances into similarities and loads only ready candidates with their exact vectors', async () => {
    const sent: string[] = [];
    const client = {
      send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
        sent.push(command.constructor.name);
        if (command.constructor.name === 'SearchVectorsCommand') {
          return {
            SearchResults: [
              { Item: { itemId: { S: 'b' } }, Score: 0.4 },
              { Item: { itemId: { S: 'a' } }, Score: 0.1 },
              { Item: { itemId: { S: 'gone' } }, Score: 0.2 },
            ],
          };
        }
        return {
          Responses: {
            Items: [
              {
                itemId: { S: 'a' },
                status: { S: 'ready' },
                category: { S: 'x' },
                vectors: { M: { m1: { B: vectorBytes(unit(1, 0, 0)) } } },
              },
              {
                itemId: { S: 'b' },
                status: { S: 'ready' },
                available: { BOOL: false },
                vectors: { M: { m1: { B: vectorBytes(unit(0, 1, 0)) } } },
              },
              { itemId: { S: 'gone' }, status: { S: 'deleted' } },
            ],
          },
        };
      },
    };
    expect(
      DynamoVectorRetriever.results({
        SearchResults: [
          { Item: { itemId: { S: 'b' } }, Score: 0.4 },
          { Item: { itemId: { S: 'a' } }, Score: 0.1 },
        ],
      }),
    ).toEqual([
      { itemId: 'a', similarity: 0.9 },
      { itemId: 'b', similarity: 0.6 },
    ]);
    const retriever = new DynamoVectorRetriever(client as never, settings);
    const candidates = await retriever.candidates([unit(1, 0, 0)], 40, { alsoLoad: ['liked'] });
    expect(sent).toEqual(['SearchVectorsCommand', 'BatchGetItemCommand']);
    expect([...candidates.ids()].sort()).toEqual(['a', 'b']);
    expect(candidates.attributes('b')).toEqual({ available: false });
    expect(candidates.search({ queries: [unit(1, 0, 0)], k: 1 })[0]?.itemId).toBe('a');
  });
});

describe('the dynamodb-vector backend under list filters', () => {
  const settings = { table: 'Items', indexName: 'byVector', modelId: 'm1', dim: 3 };
  /** A client that records each SearchVectors request's condition and TopK, and finds nothing. */
  const recording = () => {
    const searches: Array<{ category: string | undefined; topK: number }> = [];
    const client = {
      send: async (command: { constructor: { name: string }; input: SearchVectorsCommandInput }) => {
        if (command.constructor.name === 'SearchVectorsCommand')
          searches.push({
            category: command.input.ExpressionAttributeValues?.[':category']?.S,
            topK: command.input.TopK ?? 0,
          });
        return {};
      },
    };
    return { client, searches };
  };

  it('searches each category inside the index, one request per query and category, up to four', async () => {
    const { client, searches } = recording();
    const serving = vectorServing(new DynamoVectorRetriever(client as never, settings), 4);
    await serving.forQueries([unit(1, 0, 0), unit(0, 1, 0)], 10, {
      filter: { categories: ['hats', 'caps'] },
    });
    expect(searches).toEqual([
      { category: 'hats', topK: 20 },
      { category: 'caps', topK: 20 },
      { category: 'hats', topK: 20 },
      { category: 'caps', topK: 20 },
    ]);
  });

  it('over-fetches without a condition, to filter after, for tags, prices and more than four categories', async () => {
    expect(filteredOverFetch(undefined)).toBe(1);
    expect(filteredOverFetch({ categories: ['a'] })).toBe(1);
    expect(filteredOverFetch({ tags: ['wool'] })).toBe(4);
    expect(filteredOverFetch({ maxPrice: 20 })).toBe(4);
    const { client, searches } = recording();
    const serving = vectorServing(new DynamoVectorRetriever(client as never, settings), 4);
    await serving.forQueries([unit(1, 0, 0)], 5, { filter: { categories: ['a', 'b', 'c', 'd', 'e'] } });
    expect(searches).toEqual([{ category: undefined, topK: 80 }]);
    searches.length = 0;
    await serving.forQueries([unit(1, 0, 0)], 5, { filter: { categories: ['a'], minPrice: 10 } });
    expect(searches).toEqual([{ category: 'a', topK: 80 }]);
    searches.length = 0;
    await serving.forQueries([unit(1, 0, 0)], 5, {});
    expect(searches).toEqual([{ category: undefined, topK: 20 }]);
  });
});

describe('exploration and rotation', () => {
  const DAY = 86_400_000;
  const now = Date.UTC(2026, 5, 1);
  const index = new ExactIndex(4);
  const old = { available: true, publishedAt: now - 90 * DAY };
  for (let i = 0; i < 30; i++) {
    index.upsert(`heart-${i}`, unit(1, 0.25 * Math.sin(i), 0.25 * Math.cos(i), 0), {
      ...old,
      category: 'heart',
    });
    index.upsert(`car-${i}`, unit(0.25 * Math.sin(i), 1, 0, 0.25 * Math.cos(i)), { ...old, category: 'car' });
    index.upsert(`other-${i}`, unit(-1, 0, 1, 0.1 * Math.sin(i)), { ...old, category: 'other' });
  }
  // New arrivals: hearts and cars a little off their taste's axis (no ordinary slot would go to
  // them), a new item unlike either taste, an undated one, one too old and one shown too often.
  const fresh = (days: number) => ({ available: true, publishedAt: now - days * DAY });
  index.upsert('new-heart-a', unit(1, 0, 0.9, 0.3), fresh(1));
  index.upsert('new-heart-b', unit(1, 0.3, 0.9, 0), fresh(3));
  index.upsert('new-car', unit(0.3, 1, 0, 0.9), fresh(2));
  index.upsert('new-stranger', unit(-1, 0, 1, 1), fresh(1));
  index.upsert('undated-heart', unit(1, 0, 0.85, 0.3), { available: true });
  index.upsert('aged-heart', unit(1, 0, 0.86, 0.3), fresh(40));
  index.upsert('overexposed-heart', unit(1, 0, 0.87, 0.3), fresh(1));
  const liked = ['heart-0', 'heart-1', 'car-0', 'car-1'];
  const profile = foldEvents(
    'u',
    4,
    liked.map((itemId, i) => ({
      type: 'like' as const,
      itemId,
      at: now - 1000 + i,
      vector: index.vector(itemId),
    })),
    DEFAULT_PROFILE_SETTINGS,
  );
  const exploration = (settings: Partial<typeof DEFAULT_EXPLORATION> = {}) => ({
    settings: { ...DEFAULT_EXPLORATION, maxAgeDays: 14, ...settings },
    impressions: new Map([
      ['overexposed-heart', 5000],
      ['new-heart-a', 3],
    ]),
  });
  const rank = (extra: object = {}, limit = 10) =>
    rankForUser(
      {
        index,
        profile,
        profileSettings: DEFAULT_PROFILE_SETTINGS,
        settings: DEFAULT_RANKING_SETTINGS,
        now,
        ...extra,
      },
      { limit, excludeSeen: true },
    );
  const NEW_TASTEFUL = ['new-heart-a', 'new-heart-b', 'new-car'];

  it('gives the share of slots to new, little-shown items like the tastes, and keeps the rest as ranked', () => {
    const without = rank();
    const withIt = rank({ exploration: exploration({ share: 0.2 }) });

    expect(without.some((r) => r.itemId.startsWith('new-'))).toBe(false);
    const explored = withIt.filter((r) => r.reason.kind === 'exploration');
    expect(explored).toHaveLength(2);
    for (const pick of explored) {
      expect(NEW_TASTEFUL).toContain(pick.itemId);
      expect(pick.reason).toMatchObject({ kind: 'exploration', publishedAt: expect.any(Number) });
      expect(liked).toContain((pick.reason as { itemId: string }).itemId);
    }
    // Never first; the organic part is the list without exploration, cut short.
    expect(withIt[0]?.reason.kind).not.toBe('exploration');
    expect(withIt).toHaveLength(10);
    expect(withIt.filter((r) => r.reason.kind !== 'exploration').map((r) => r.itemId)).toEqual(
      without.slice(0, 8).map((r) => r.itemId),
    );
  });

  it('never explores items that are old, undated, shown too often or unlike every taste', () => {
    const all = rank({ exploration: exploration({ share: 0.5, minRelevance: 0 }) }, 20);
    const explored = all.filter((r) => r.reason.kind === 'exploration').map((r) => r.itemId);
    expect(explored).toEqual(expect.arrayContaining(NEW_TASTEFUL));
    for (const itemId of ['undated-heart', 'aged-heart', 'overexposed-heart'])
      expect(explored).not.toContain(itemId);
    // With the default relevance floor, the stranger is not offered to this user at all.
    const floored = rank({ exploration: exploration({ share: 0.5 }) }, 20).map((r) => r.itemId);
    expect(floored).not.toContain('new-stranger');
    expect(explored.length).toBeLessThanOrEqual(10);
  });

  it('with the displaced floor, shows a pick only when it is nearly as good as the organic item it pushes down', () => {
    const without = rank();
    const picks = (settings: Partial<typeof DEFAULT_EXPLORATION>) =>
      rank({ exploration: exploration({ share: 0.2, ...settings }) }).filter(
        (r) => r.reason.kind === 'exploration',
      );
    // At 0 every pick passes. Share 0.2: slots at positions 4 and 9; the best pick is held against the
    // organic item it pushes down from position 4 (the 5th), the next against the 9th (one pick before it).
    const all = picks({ floor: 'displaced', minRelevance: 0 });
    expect(all.map((r) => r.itemId)).toHaveLength(2);
    const [best, second] = all.map((r) => r.score) as [number, number];
    expect(best).toBeGreaterThanOrEqual(second);
    const [top, fifth, ninth, tenth] = [0, 4, 8, 9].map((i) => without[i]?.score as number) as [
      number,
      number,
      number,
      number,
    ];
    // The picks here are closer to the list's tail than to its head, so a floor between the two
    // ratios lets both in against what they displace, and neither against the best.
    const againstDisplaced = Math.min(best / fifth, second / ninth);
    expect(best / top).toBeLessThan(againstDisplaced);
    const between = (best / top + againstDisplaced) / 2;
    expect(picks({ floor: 'displaced', minRelevance: between })).toHaveLength(2);
    expect(picks({ floor: 'best', minRelevance: between })).toHaveLength(0);
    // Too high for the 5th but not the 10th: the best pick waits for the second slot.
    if (best / fifth < best / tenth) {
      const waits = picks({ floor: 'displaced', minRelevance: (best / fifth + best / tenth) / 2 });
      expect(waits.map((r) => r.itemId)).toEqual([all[0]?.itemId]);
    }
    // Just above what the best pick reaches against the 10th: none.
    expect(picks({ floor: 'displaced', minRelevance: best / tenth + 1e-6 })).toHaveLength(0);
  });

  it('is off at share 0, and a new item that wins an ordinary slot keeps it and counts toward the share', () => {
    expect(rank({ exploration: exploration({ share: 0 }) })).toEqual(rank());
    // Halfway between the two tastes (each unit direction summed): the best candidate there is.
    const between = new Float64Array(4);
    for (const centroid of profile.centroids)
      normalised(centroid.sum).forEach((v, i) => {
        between[i] = (between[i] as number) + v;
      });
    index.upsert('new-bullseye', normalised(between), fresh(1));
    try {
      const ranked = rank({ exploration: exploration({ share: 0.2 }) });
      const bullseye = ranked.findIndex((r) => r.itemId === 'new-bullseye');
      expect(ranked[bullseye]?.reason.kind).toBe('similar_to');
      // Share 0.2 of 10: slots at the 5th and 10th; the organic new item above the 5th fills the first.
      expect(bullseye).toBeLessThan(4);
      expect(ranked.filter((r) => r.reason.kind === 'exploration')).toHaveLength(1);
    } finally {
      index.remove('new-bullseye');
    }
  });

  it('rotation demotes what the user was shown in their last lists, and is off without a weight', () => {
    const first = rank().map((r) => r.itemId);
    const shown = new Set(first.slice(0, 5));
    const rotated = rank({ recentlyShown: shown, rotationWeight: 0.3 }).map((r) => r.itemId);
    expect(rotated.slice(0, 5).some((itemId) => shown.has(itemId))).toBe(false);
    expect(rank({ recentlyShown: shown }).map((r) => r.itemId)).toEqual(first);
  });
});

describe('interleaveExploration', () => {
  const item = (itemId: string, score = 1) => ({ itemId, score, reason: { kind: 'popular' as const } });
  const organic = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l'].map((id, i) =>
    item(id, 1 - i / 100),
  );
  const ids = (list: { itemId: string }[]) => list.map((r) => r.itemId);
  const none = { minRelevance: 0, floor: 'none' as const };

  it('puts slots at fixed positions, never first, whatever the list length', () => {
    expect(explorationPositions({ ...DEFAULT_EXPLORATION, share: 0.1 }, 35)).toEqual([9, 19, 29]);
    expect(explorationPositions({ ...DEFAULT_EXPLORATION, share: 0.2 }, 10)).toEqual([4, 9]);
    expect(explorationPositions({ ...DEFAULT_EXPLORATION, share: 1 }, 4)).toEqual([1, 2, 3]);
    expect(explorationPositions({ ...DEFAULT_EXPLORATION, share: 0.1 }, 9)).toEqual([]);
    expect(explorationPositions({ ...DEFAULT_EXPLORATION, share: 0 }, 100)).toEqual([]);
  });

  it('places picks at their positions, skips organic items already picked, and fills when organic runs out', () => {
    expect(ids(interleaveExploration(organic, [item('X')], [4], none, 8))).toEqual([
      'a',
      'b',
      'c',
      'd',
      'X',
      'e',
      'f',
      'g',
    ]);
    // A pick that is also organic further down keeps its early place and is not listed twice.
    expect(ids(interleaveExploration(organic, [item('g'), item('Y')], [2, 5], none, 8))).toEqual([
      'a',
      'b',
      'g',
      'c',
      'd',
      'Y',
      'e',
      'f',
    ]);
    // An organic item at or before the slot keeps its own slot and is no pick.
    expect(ids(interleaveExploration(organic, [item('b'), item('X')], [2], none, 4))).toEqual([
      'a',
      'b',
      'X',
      'c',
    ]);
    expect(ids(interleaveExploration([item('a')], [item('X'), item('Y')], [1, 2], none, 10))).toEqual([
      'a',
      'X',
      'Y',
    ]);
    expect(ids(interleaveExploration(organic, [], [1], none, 3))).toEqual(['a', 'b', 'c']);
  });

  it('holds a pick to the floor: the best organic score, or the organic item it displaces', () => {
    const pick = item('X', 0.9 * 0.95);
    const at = (floor: 'best' | 'displaced', minRelevance: number) =>
      ids(interleaveExploration(organic, [pick], [9], { minRelevance, floor }, 10));
    // Displaced: j (0.91); best: a (1).
    expect(at('displaced', 0.9)).toContain('X');
    expect(at('displaced', 0.95)).not.toContain('X');
    expect(at('best', 0.9)).not.toContain('X');
    expect(at('best', 0.85)).toContain('X');
  });

  it('counts new items that won ordinary slots toward the share: such a list needs no pick', () => {
    const isNew = (id: string) => id === 'c' || id === 'X' || id === 'Y';
    // 'c' is new and organic, above the first slot: that slot stays organic; the second gets a pick.
    expect(ids(interleaveExploration(organic, [item('X'), item('Y')], [4, 9], none, 10, isNew))).toEqual([
      'a',
      'b',
      'c',
      'd',
      'e',
      'f',
      'g',
      'h',
      'i',
      'X',
    ]);
    // Without a new organic item above it, the slot is explored as before.
    const old = (id: string) => id === 'X';
    expect(ids(interleaveExploration(organic, [item('X')], [4], none, 6, old))).toEqual([
      'a',
      'b',
      'c',
      'd',
      'X',
      'e',
    ]);
    // A new organic item below the slot does not count for it.
    const late = (id: string) => id === 'X' || id === 'g';
    expect(ids(interleaveExploration(organic, [item('X')], [4], none, 6, late))).toEqual([
      'a',
      'b',
      'c',
      'd',
      'X',
      'e',
    ]);
  });

  it('is a prefix of any longer list (pages continue it)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz'), { maxLength: 20 }),
        fc.uniqueArray(fc.constantFrom(...'ABCDEFGHklmnop'), { maxLength: 8 }),
        fc.constantFrom(0.1, 0.2, 0.34, 0.5),
        fc.constantFrom('none' as const, 'best' as const, 'displaced' as const),
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 0, max: 20 }),
        fc.boolean(),
        (organicIds, pickIds, share, floor, short, extra, countNew) => {
          const scored = organicIds.map((id, i) => item(id, 1 - i / 40));
          const picks = pickIds.map((id, i) => item(id, 0.99 - i / 30));
          const settings = { minRelevance: 0.9, floor };
          // New: the picks, and the organic items a pick may also be ('k'..'p').
          const isNew = countNew ? (id: string) => /[A-Hk-p]/.test(id) : undefined;
          const list = (depth: number) =>
            ids(
              interleaveExploration(
                scored,
                picks,
                explorationPositions({ ...DEFAULT_EXPLORATION, share }, depth),
                settings,
                depth,
                isNew,
              ),
            );
          const long = list(short + extra);
          expect(list(short)).toEqual(long.slice(0, list(short).length));
          expect(new Set(long).size).toBe(long.length);
        },
      ),
    );
  });
});
