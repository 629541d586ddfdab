/**
 * One offline evaluation run: a labelled emoji catalogue ingested through the real local pipeline,
 * simulated users replayed through POST /events, the real recommendation endpoint against baselines
 * and ablations on the same split, the same embeddings and the same exclusions.
 */

import { readFile } from 'node:fs/promises';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { ProfileStore, storeTablesOf } from '../../functions/adapters/dynamodb/profile-store';
import { DEFAULT_TRACKING_POLICY } from '../../functions/app/track-events';
import { impressionDecay } from '../../functions/domain/impressions';
import { DEFAULT_PROFILE_SETTINGS, type InterestProfile } from '../../functions/domain/interest-profile';
import type { LearnedSimilarityKnobs } from '../../functions/domain/learned-similarity';
import { projectVector } from '../../functions/domain/learned-similarity';
import { DEFAULT_RANKING_SETTINGS } from '../../functions/domain/ranking';
import { ExactIndex } from '../../functions/vector-index';
import { invoke } from '../../infra/local/api-server';
import { type LocalApp, startLocalApp } from '../../infra/local/app';
import { createLocalDynamoDbClient, createLocalS3Client } from '../../infra/local/aws-env';
import {
  eventsOf,
  gateByUsers,
  itemToItemPrecision,
  LEARNED_CONTENT_ONLY,
  LEARNED_DEFAULT,
  LEARNED_NOISY,
  type LearnedSimilarityFigures,
  learnedKnobSweep,
  NOISY_OFF_TASTE_SHARE,
  noisierUsers,
  projectAll,
  refoldIn,
  trainProjection,
} from './learned';
import { type Alignment, alignedTable } from './markdown';
import {
  ABLATIONS,
  decayedPopularity,
  meanVectorList,
  OFFLINE_DEFAULT,
  type OfflineInputs,
  popularList,
  randomList,
  rebuild,
  type Variant,
  variantList,
} from './methods';
import { METRICS, type PerUser, type Scores, type ScoringContext, scoreLists } from './metrics';
import { SeededRandom } from './prng';
import {
  buildCatalogue,
  type Catalogue,
  type CatalogueImage,
  type EmojiPackage,
  PRESETS,
  type Preset,
  type PresetName,
  SIMULATION,
  type SimulatedUser,
  simulateUsers,
  simulationDigest,
} from './simulation';

const DAY_MS = 86_400_000;

export interface EvaluationOptions {
  emojiPackage: EmojiPackage;
  seed: number;
  preset: PresetName;
  /** Overrides the preset's user count. */
  users?: number;
  /** A DynamoDB Local already running (Jest's); by default the local app starts its own. */
  dynamoEndpoint?: string;
  tablePrefix?: string;
  /** Extra offline variants to score (tuning); reported apart from the methods. */
  sweep?: Variant[];
  /** The model's manifest.json. @default the model layer's (`defaultManifestPath()`) */
  manifestPath?: string;
  /** The learned-similarity trainer's knobs (the only ones tuned for its rows). @default the trainer's */
  learnedKnobs?: LearnedSimilarityKnobs;
  log?: (line: string) => void;
}

export type MethodKind = 'baseline' | 'lookalike' | 'ablation' | 'learned';

export interface MethodResult {
  id: string;
  name: string;
  kind: MethodKind;
  scores: Scores;
  perUser: PerUser;
}

export interface EvaluationResult {
  emojiPackage: EmojiPackage;
  seed: number;
  preset: PresetName;
  parameters: Preset & { simulation: typeof SIMULATION };
  modelId: string;
  /**
   * SHA-256 (16 hex digits) of the catalogue split, the users, their events and held-out items: two
   * runs with the same digest replayed the same users, whatever the model.
   */
  simulationDigest: string;
  catalogue: { subcategories: string[]; warm: number; cold: number };
  users: { oneTaste: number; twoTastes: number; events: number };
  settings: { profile: typeof DEFAULT_PROFILE_SETTINGS; ranking: typeof DEFAULT_RANKING_SETTINGS };
  methods: MethodResult[];
  sweep?: MethodResult[];
  /** The learned projection's training data and item-to-item figures (issue 18). */
  learnedSimilarity: LearnedSimilarityFigures;
  /** Offline default (rebuilt from raw events, ranked on an ExactIndex) against the endpoint's lists. */
  endpointCheck: {
    users: number;
    identicalLists: number;
    identicalAfterColdUpload: number;
    mismatches: string[];
  };
  timings: Record<string, number>;
}

/** Runs `fn` over `values` with at most `limit` in flight; results in input order. */
async function mapLimit<T, R>(
  values: readonly T[],
  limit: number,
  fn: (value: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(values.length);
  let next = 0;
  const worker = async () => {
    while (next < values.length) {
      const i = next++;
      results[i] = await fn(values[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, values.length) }, worker));
  return results;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface RecommendationResponse {
  strategy: string;
  items: Array<{ itemId: string }>;
}

class Pipeline {
  private readonly s3;

  constructor(
    private readonly app: LocalApp,
    private readonly log: (line: string) => void,
  ) {
    this.s3 = createLocalS3Client(app.stack.endpoints.s3);
  }

  /**
   * Uploads images to the catalogue bucket and waits until the embed function has handled every one.
   * `publishedAt` (a date, YYYY-MM-DD) goes in as `published-at`, as a shop importing its existing
   * catalogue would date it; without it an item counts as new from its upload.
   */
  async ingest(images: readonly CatalogueImage[], publishedAt?: string): Promise<void> {
    await mapLimit(images, 8, async (image) => {
      await this.s3.send(
        new PutObjectCommand({
          Bucket: this.app.stack.bucket,
          // One folder for all: the label must not reach the system as a category.
          Key: `catalogue/emoji/${image.itemId}.png`,
          Body: await readFile(image.file),
          ContentType: 'image/png',
          ...(publishedAt ? { Metadata: { 'published-at': publishedAt } } : {}),
        }),
      );
    });
    await this.app.queue.drain({ timeoutMs: 20 * 60_000 });
    const dead = this.app.queue.dlq();
    if (dead.length > 0)
      throw new Error(`${dead.length} uploads were dead-lettered: ${JSON.stringify(dead[0])}`);
  }

  async postEvents(user: SimulatedUser, historyStart: number): Promise<void> {
    const events = user.events.map((event) => ({
      eventId: event.eventId,
      userId: user.userId,
      itemId: event.itemId,
      type: event.type,
      timestamp: historyStart + event.offsetMs,
    }));
    const response = await invoke(this.app.handlers, {
      method: 'POST',
      path: '/events',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ events }),
    });
    const body = response.json<{ accepted: number; results: unknown[] }>();
    if (response.status !== 202 || body.accepted !== events.length) {
      throw new Error(
        `POST /events for ${user.userId}: ${response.status} ${JSON.stringify(body).slice(0, 500)}`,
      );
    }
  }

  async recommendations(userId: string): Promise<string[]> {
    const response = await invoke(this.app.handlers, {
      method: 'GET',
      path: `/users/${encodeURIComponent(userId)}/recommendations?limit=10&exclude=seen`,
    });
    const body = response.json<RecommendationResponse>();
    if (response.status !== 200 || body.strategy !== 'personal') {
      throw new Error(
        `recommendations for ${userId}: ${response.status} ${JSON.stringify(body).slice(0, 500)}`,
      );
    }
    return body.items.map((item) => item.itemId);
  }

  /** True when POST /search with the item's own image finds it: the recommend function serves it. */
  async served(image: CatalogueImage): Promise<boolean> {
    const response = await invoke(this.app.handlers, {
      method: 'POST',
      path: '/search?limit=5',
      headers: { 'content-type': 'image/png' },
      body: await readFile(image.file),
    });
    return (
      response.status === 200 &&
      response.json<RecommendationResponse>().items.some((i) => i.itemId === image.itemId)
    );
  }

  /** Waits out the recommend function's index refresh (every 2 s) until every image is served. */
  async waitUntilServed(images: readonly CatalogueImage[], timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let pending = [...images];
    while (pending.length > 0) {
      const served = await mapLimit(pending, 4, (image) => this.served(image));
      pending = pending.filter((_, i) => !served[i]);
      if (pending.length === 0) return;
      if (Date.now() > deadline)
        throw new Error(`not served after ${timeoutMs} ms: ${pending.map((i) => i.itemId).join(', ')}`);
      this.log(`  ${pending.length} new items not served yet; waiting for the index refresh`);
      await sleep(1000);
    }
  }

  close(): void {
    this.s3.destroy();
  }
}

function buildIndex(
  dim: number,
  vectors: ReadonlyMap<string, Float32Array>,
  itemIds: readonly string[],
  publishedAt: ReadonlyMap<string, number>,
): ExactIndex {
  const index = new ExactIndex(dim, { initialCapacity: itemIds.length });
  for (const itemId of itemIds) {
    const vector = vectors.get(itemId);
    if (!vector) throw new Error(`no vector for ${itemId}`);
    const since = publishedAt.get(itemId);
    index.upsert(itemId, vector, {
      available: true,
      category: 'emoji',
      ...(since !== undefined ? { publishedAt: since } : {}),
    });
  }
  return index;
}

export async function evaluate(options: EvaluationOptions): Promise<EvaluationResult> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const preset: Preset = { ...PRESETS[options.preset], ...(options.users ? { users: options.users } : {}) };
  const timings: Record<string, number> = {};
  const started = performance.now();
  let phaseStart = started;
  const phase = (name: string) => {
    const now = performance.now();
    timings[name] = Math.round((now - phaseStart) / 100) / 10;
    phaseStart = now;
    log(`[${options.emojiPackage} seed ${options.seed}] ${name}: ${timings[name]} s`);
  };

  const catalogue: Catalogue = buildCatalogue(options.emojiPackage, preset, options.seed);
  const users = simulateUsers(catalogue, preset.users, options.seed);
  const subcategoryOf = new Map(
    [...catalogue.warm, ...catalogue.cold].map((image) => [image.itemId, image.subcategory]),
  );
  log(
    `[${options.emojiPackage} seed ${options.seed}] ${catalogue.subcategories.length} subcategories, ` +
      `${catalogue.warm.length} + ${catalogue.cold.length} cold images, ${users.length} users`,
  );

  // No dataDir: DynamoDB Local's database is a scratch file in RAM (/dev/shm when it has room; on
  // disk the event replay's ~200 writes per user were about eight times slower), and s3rver gets a
  // temporary folder; stop() removes both.
  const app = await startLocalApp({
    apiPort: -1,
    ...(options.dynamoEndpoint ? { dynamoEndpoint: options.dynamoEndpoint } : {}),
    ...(options.tablePrefix ? { tablePrefix: options.tablePrefix } : {}),
    ...(options.manifestPath ? { manifestPath: options.manifestPath } : {}),
    embedConcurrency: 2,
    // A batch of five images can take longer than the default 2 s on a busy machine: no redelivery.
    visibilityTimeoutMs: 60_000,
  });
  const pipeline = new Pipeline(app, log);
  const dynamo = createLocalDynamoDbClient(app.stack.endpoints.dynamodb);
  try {
    phase('start');
    // The warm catalogue was on sale before the simulated history began (a month earlier): only the
    // cold upload is new, as exploration sees it.
    const warmDate = new Date(Date.now() - (SIMULATION.historyDays + 30) * DAY_MS).toISOString().slice(0, 10);
    await pipeline.ingest(catalogue.warm, warmDate);
    await app.compact();
    const publishedAt = new Map<string, number>(
      catalogue.warm.map((image) => [image.itemId, Date.parse(`${warmDate}T00:00:00Z`)]),
    );
    phase('ingest');

    const { tables } = app.stack;
    const store = new ProfileStore(dynamo, storeTablesOf(tables), app.manifest.modelId);
    const dim = app.manifest.output.dim;
    const vectors = new Map<string, Float32Array>();
    const readVectors = async (images: readonly CatalogueImage[]) => {
      const items = await store.getItems(images.map((image) => image.itemId));
      for (const image of images) {
        const item = items.get(image.itemId);
        if (item?.status !== 'ready' || !item.vector)
          throw new Error(`${image.itemId} is ${item?.status ?? 'missing'}, not ready`);
        vectors.set(image.itemId, item.vector);
      }
    };
    await readVectors(catalogue.warm);

    const historyStart = Date.now() - SIMULATION.historyDays * DAY_MS;
    await mapLimit(users, 4, (user) => pipeline.postEvents(user, historyStart));
    // Co-engagement counters are fed by the Events stream, after the requests: wait for them.
    await app.eventsStream.drain({ timeoutMs: 20 * 60_000 });
    if (app.eventsStream.deadLetters.length > 0)
      throw new Error(`co-engagement dead letters: ${JSON.stringify(app.eventsStream.deadLetters[0])}`);
    phase('events');

    // Learned similarity: trained from what these users sent, read back from the Events table.
    const trainingEvents = await eventsOf(
      store,
      users.map((user) => user.userId),
    );
    const learned = trainProjection(app.manifest.modelId, dim, trainingEvents, vectors, options.learnedKnobs);
    const projected = projectAll(learned.projection, vectors);
    const learnedProfiles = new Map<string, InterestProfile>();
    await mapLimit(users, 4, async (user) =>
      learnedProfiles.set(user.userId, await refoldIn(store, projected, dim, user.userId)),
    );
    phase('learn');

    const endpointWarm = new Map<string, string[]>();
    await mapLimit(users, 4, async (user) =>
      endpointWarm.set(user.userId, await pipeline.recommendations(user.userId)),
    );
    phase('recommend');

    const inputs: OfflineInputs = {
      store,
      dim,
      served: { profile: DEFAULT_PROFILE_SETTINGS },
      coEngagementCache: new Map(),
      // As recommend reads them (the impressions of the lists served above), decayed to now.
      impressions: new Map(
        [...(await store.impressions())].map(([itemId, w]) => [
          itemId,
          w * impressionDecay(DEFAULT_TRACKING_POLICY.popularityEpoch, Date.now()),
        ]),
      ),
    };
    const warmIds = catalogue.warm.map((image) => image.itemId);
    const allIds = [...warmIds, ...catalogue.cold.map((image) => image.itemId)];
    const variants: Variant[] = [OFFLINE_DEFAULT, ...ABLATIONS, ...(options.sweep ?? [])];
    // One fold per distinct profile setting: variants that only change the ranking share it.
    const profiles = new Map<string, Map<string, InterestProfile>>();
    const profileKey = (variant: Variant) =>
      JSON.stringify(variant.profile, (_, v) => (v === Number.POSITIVE_INFINITY ? 'Infinity' : v));
    for (const variant of variants) {
      const key = profileKey(variant);
      if (profiles.has(key)) continue;
      const byUser = new Map<string, InterestProfile>();
      profiles.set(key, byUser);
      await mapLimit(users, 4, async (user) => {
        byUser.set(user.userId, await rebuild(inputs, user.userId, variant.profile));
      });
    }

    /** Every method's lists on one catalogue (the warm one, or with the cold items added). */
    const offlineLists = async (itemIds: readonly string[], stream: number) => {
      const index = buildIndex(dim, vectors, itemIds, publishedAt);
      const projectedIndex = buildIndex(dim, projected, itemIds, publishedAt);
      const popularity = await decayedPopularity(inputs, Date.now());
      const random = new SeededRandom(options.seed, stream);
      const lists = new Map<string, Map<string, string[]>>();
      const put = (method: string, userId: string, list: string[]) => {
        const byUser = lists.get(method) ?? new Map<string, string[]>();
        byUser.set(userId, list);
        lists.set(method, byUser);
      };
      for (const user of users) {
        const interacted = new Set(user.events.map((event) => event.itemId));
        const positives = user.events
          .filter((e) => e.type === 'like' || e.type === 'purchase')
          .map((e) => e.itemId);
        put('random', user.userId, randomList(index, interacted, random));
        put('popular', user.userId, popularList(index, popularity, interacted));
        put('mean-vector', user.userId, meanVectorList(index, positives, interacted));
        for (const variant of variants) {
          const profile = profiles.get(profileKey(variant))?.get(user.userId) as InterestProfile;
          put(variant.id, user.userId, await variantList(inputs, index, profile, variant));
        }
        const learnedProfile = learnedProfiles.get(user.userId) as InterestProfile;
        for (const variant of [LEARNED_DEFAULT, LEARNED_CONTENT_ONLY])
          put(variant.id, user.userId, await variantList(inputs, projectedIndex, learnedProfile, variant));
      }
      return lists;
    };
    const warmLists = await offlineLists(warmIds, 3);
    phase('offline');

    const coldUploadAt = Date.now();
    await pipeline.ingest(catalogue.cold);
    for (const image of catalogue.cold) publishedAt.set(image.itemId, coldUploadAt);
    await readVectors(catalogue.cold);
    for (const image of catalogue.cold)
      projected.set(
        image.itemId,
        projectVector(learned.projection, vectors.get(image.itemId) as Float32Array),
      );
    await pipeline.waitUntilServed(catalogue.cold);
    phase('cold ingest');
    const endpointCold = new Map<string, string[]>();
    await mapLimit(users, 4, async (user) =>
      endpointCold.set(user.userId, await pipeline.recommendations(user.userId)),
    );
    const coldLists = await offlineLists(allIds, 4);
    phase('cold recommend');

    const same = (a: readonly string[] | undefined, b: readonly string[] | undefined) =>
      a !== undefined && b !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
    const mismatches = users
      .filter(
        (user) => !same(endpointWarm.get(user.userId), warmLists.get(OFFLINE_DEFAULT.id)?.get(user.userId)),
      )
      .map((user) => user.userId);
    const endpointCheck = {
      users: users.length,
      identicalLists: users.length - mismatches.length,
      identicalAfterColdUpload: users.filter((user) =>
        same(endpointCold.get(user.userId), coldLists.get(OFFLINE_DEFAULT.id)?.get(user.userId)),
      ).length,
      mismatches: mismatches.slice(0, 5),
    };

    const scoringContext: ScoringContext = {
      users,
      subcategoryOf: (itemId) => subcategoryOf.get(itemId),
      vectorOf: (itemId) => vectors.get(itemId),
      catalogueSize: warmIds.length,
      coldIds: new Set(catalogue.cold.map((image) => image.itemId)),
    };
    // The tuning run's learned sweep: the trainer's own knobs, one at a time (before the noisier
    // users' events reach the aggregates the default ranking reads).
    const learnedSweep: MethodResult[] = [];
    for (const { name, knobs } of options.sweep ? learnedKnobSweep() : []) {
      const variant = trainProjection(app.manifest.modelId, dim, trainingEvents, vectors, knobs);
      const variantVectors = projectAll(variant.projection, vectors);
      const warmIndex = buildIndex(dim, variantVectors, warmIds, publishedAt);
      const allIndex = buildIndex(dim, variantVectors, allIds, publishedAt);
      const lists = new Map<string, { warm: Map<string, string[]>; cold: Map<string, string[]> }>();
      for (const ranking of [LEARNED_DEFAULT, LEARNED_CONTENT_ONLY])
        lists.set(ranking.id, { warm: new Map(), cold: new Map() });
      await mapLimit(users, 4, async (user) => {
        const profile = await refoldIn(store, variantVectors, dim, user.userId);
        for (const ranking of [LEARNED_DEFAULT, LEARNED_CONTENT_ONLY]) {
          const byUser = lists.get(ranking.id) as {
            warm: Map<string, string[]>;
            cold: Map<string, string[]>;
          };
          byUser.warm.set(user.userId, await variantList(inputs, warmIndex, profile, ranking));
          byUser.cold.set(user.userId, await variantList(inputs, allIndex, profile, ranking));
        }
      });
      for (const ranking of [LEARNED_DEFAULT, LEARNED_CONTENT_ONLY]) {
        const byUser = lists.get(ranking.id) as { warm: Map<string, string[]>; cold: Map<string, string[]> };
        learnedSweep.push({
          id: `learned-sweep:${ranking.id}:${name}`,
          name: `${ranking.id === LEARNED_DEFAULT.id ? 'Lookalike' : 'Content only'} + learned, ${name}`,
          kind: 'learned',
          ...scoreLists(scoringContext, byUser.warm, byUser.cold),
        });
      }
    }

    // The noisier simulation: the same users with 30 % of their positives outside their tastes, sent
    // under other user ids after every list above (only content-only lists follow, which read no
    // aggregate), then a projection trained from their events alone.
    const noisyUsers = noisierUsers(catalogue, users, options.seed);
    await mapLimit(noisyUsers, 4, (user) => pipeline.postEvents(user, historyStart));
    await app.eventsStream.drain({ timeoutMs: 20 * 60_000 });
    const noisy = trainProjection(
      app.manifest.modelId,
      dim,
      await eventsOf(
        store,
        noisyUsers.map((user) => user.userId),
      ),
      vectors,
      options.learnedKnobs,
    );
    const noisyProjected = projectAll(noisy.projection, vectors);
    const noisyLists = { warm: new Map<string, string[]>(), cold: new Map<string, string[]>() };
    const noisyWarmIndex = buildIndex(dim, noisyProjected, warmIds, publishedAt);
    const noisyAllIndex = buildIndex(dim, noisyProjected, allIds, publishedAt);
    await mapLimit(users, 4, async (user) => {
      const profile = await refoldIn(store, noisyProjected, dim, user.userId);
      noisyLists.warm.set(user.userId, await variantList(inputs, noisyWarmIndex, profile, LEARNED_NOISY));
      noisyLists.cold.set(user.userId, await variantList(inputs, noisyAllIndex, profile, LEARNED_NOISY));
    });
    const subcategory = (itemId: string) => subcategoryOf.get(itemId);
    const unpaired = allIds.filter((itemId) => !learned.pairedItems.has(itemId));
    const noisyUnpaired = allIds.filter((itemId) => !noisy.pairedItems.has(itemId));
    const gate = await gateByUsers(
      store,
      {
        modelId: app.manifest.modelId,
        dim,
        vectors: new Map(warmIds.map((id) => [id, vectors.get(id) as Float32Array])),
      },
      users.map((user) => user.userId),
      [20, 40, 60, 100, 200],
      Date.now(),
      options.seed,
    );
    const learnedSimilarity: LearnedSimilarityFigures = {
      gate,
      knobs: learned.projection.knobs,
      data: learned.projection.data,
      itemToItem: {
        items: unpaired.length,
        before: itemToItemPrecision(vectors, subcategory, unpaired),
        after: itemToItemPrecision(projected, subcategory, unpaired),
      },
      noisy: {
        offTasteShare: NOISY_OFF_TASTE_SHARE,
        data: noisy.projection.data,
        itemToItem: {
          items: noisyUnpaired.length,
          before: itemToItemPrecision(vectors, subcategory, noisyUnpaired),
          after: itemToItemPrecision(noisyProjected, subcategory, noisyUnpaired),
        },
      },
    };
    phase('learned similarity');

    const context = scoringContext;
    const score = (
      id: string,
      name: string,
      kind: MethodKind,
      warm?: Map<string, string[]>,
      cold?: Map<string, string[]>,
    ) => ({
      id,
      name,
      kind,
      ...scoreLists(context, warm ?? new Map(), cold ?? new Map()),
    });
    const methods: MethodResult[] = [
      score('random', 'Random', 'baseline', warmLists.get('random'), coldLists.get('random')),
      score('popular', 'Most popular', 'baseline', warmLists.get('popular'), coldLists.get('popular')),
      score(
        'mean-vector',
        'Mean vector (original design)',
        'baseline',
        warmLists.get('mean-vector'),
        coldLists.get('mean-vector'),
      ),
      score('lookalike', 'Lookalike default (endpoint)', 'lookalike', endpointWarm, endpointCold),
      ...ABLATIONS.map((v) => score(v.id, v.name, 'ablation', warmLists.get(v.id), coldLists.get(v.id))),
      ...[LEARNED_DEFAULT, LEARNED_CONTENT_ONLY].map((v) =>
        score(v.id, v.name, 'learned', warmLists.get(v.id), coldLists.get(v.id)),
      ),
      score(LEARNED_NOISY.id, LEARNED_NOISY.name, 'learned', noisyLists.warm, noisyLists.cold),
    ];
    const sweep = [
      ...(options.sweep ?? []).map((v) =>
        score(v.id, v.name, 'ablation', warmLists.get(v.id), coldLists.get(v.id)),
      ),
      ...learnedSweep,
    ];
    timings.total = Math.round((performance.now() - started) / 100) / 10;
    return {
      emojiPackage: options.emojiPackage,
      seed: options.seed,
      preset: options.preset,
      parameters: { ...preset, simulation: SIMULATION },
      modelId: app.manifest.modelId,
      simulationDigest: simulationDigest(catalogue, users),
      catalogue: {
        subcategories: catalogue.subcategories,
        warm: catalogue.warm.length,
        cold: catalogue.cold.length,
      },
      users: {
        oneTaste: users.filter((u) => u.tastes.length === 1).length,
        twoTastes: users.filter((u) => u.tastes.length === 2).length,
        events: users.reduce((sum, u) => sum + u.events.length, 0),
      },
      settings: { profile: DEFAULT_PROFILE_SETTINGS, ranking: DEFAULT_RANKING_SETTINGS },
      methods,
      ...(sweep.length > 0 ? { sweep } : {}),
      learnedSimilarity,
      endpointCheck,
      timings,
    };
  } finally {
    pipeline.close();
    dynamo.destroy();
    await app.stop();
  }
}

/** The Markdown table of one run: a row per method, a column per metric. */
export function markdownTable(result: Pick<EvaluationResult, 'methods'>): string {
  return alignedTable(
    ['Method', ...METRICS.map((m) => m.label)],
    ['left', ...METRICS.map((): Alignment => 'right')],
    result.methods.map((method) => [
      method.kind === 'lookalike' ? `**${method.name}**` : method.name,
      ...METRICS.map((m) => method.scores[m.id].toFixed(3)),
    ]),
  );
}
