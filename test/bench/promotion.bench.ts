/**
 * `npm run bench:promote`: what promoting a learned projection costs (issue 18, step 3). N ready items
 * with clustered synthetic 128-d base vectors are written to DynamoDB Local (as the embed function
 * writes them), a KISSME projection is fitted on planted co-engaged pairs, and `promoteProjection`
 * runs with the operator's wiring and no settle wait: artefact, pending record, the re-projection
 * scan and its conditional writes, the snapshot, the active record. Also timed: `projectVector`
 * alone, and a function's registry read (one GET of the registry and one of the artefact) cold and
 * cached. The last stdout line is a JSON summary. Nothing is asserted on time.
 */
import { loadavg } from 'node:os';
import { CatalogueRepository } from '../../functions/adapters/dynamodb/item-store';
import { promoteProjection } from '../../functions/app/learned-space';
import type { CatalogueItem } from '../../functions/domain/catalogue-item';
import {
  type EngagementEvent,
  fitProjection,
  projectVector,
} from '../../functions/domain/learned-similarity';
import { createPromotionDeps, spaceResolver } from '../../functions/wiring/learned-space';
import { createLocalDynamoDbClient, createLocalS3Client } from '../../infra/local/aws-env';
import { startLocalStack } from '../../infra/local/harness';
import { progress, round } from './support/stats';
import { SyntheticVectors } from './support/synthetic-vectors';

const ITEMS = Number(process.env.BENCH_ITEMS ?? 2000);
const DIM = 128;
const MODEL = 'bench-model';

async function main(): Promise<void> {
  const log = progress('promote');
  const stack = await startLocalStack({ bucketName: 'lookalike-bench', tablePrefix: 'bench-promote-' });
  const dynamo = createLocalDynamoDbClient(stack.endpoints.dynamodb);
  const s3 = createLocalS3Client(stack.endpoints.s3);
  try {
    const itemsTable = stack.tables.Items as string;
    const repository = new CatalogueRepository(dynamo, itemsTable);
    const synthetic = new SyntheticVectors(DIM, 7, 50);
    const vectors = new Map<string, Float32Array>();
    log(`writing ${ITEMS} items...`);
    let next = 0;
    const writer = async () => {
      for (let i = next++; i < ITEMS; i = next++) {
        const itemId = `item-${i}`;
        const vector = synthetic.vector(i);
        vectors.set(itemId, vector);
        const item: CatalogueItem = {
          itemId,
          status: 'ready',
          available: true,
          source: {
            bucket: stack.bucket,
            key: `catalogue/bench/${itemId}.png`,
            etag: `etag-${i}`,
            sequencer: String(i + 1).padStart(16, '0'),
            eventAt: 1_000 + i,
          },
          vectors: { [MODEL]: vector },
          dim: DIM,
          createdAt: 1_000 + i,
          updatedAt: 1_000 + i,
        };
        await repository.putIfNewer(item, 1_000 + i);
      }
    };
    await Promise.all(Array.from({ length: 8 }, writer));

    // Planted pairs: items of one style liked together, 400 users.
    const events: EngagementEvent[] = [];
    for (let u = 0; u < 400; u++)
      for (let k = 0; k < 3; k++)
        events.push({
          userId: `u${u}`,
          itemId: `item-${(u % 50) + 50 * ((u + k * 7) % 20)}`,
          type: 'like',
          at: k,
        });
    let started = performance.now();
    const projection = fitProjection({
      baseModelId: MODEL,
      version: 'bench',
      dim: DIM,
      events,
      vectors,
      trainedAt: Date.now(),
    });
    const fitMs = performance.now() - started;

    const sample = [...vectors.values()].slice(0, 1000);
    started = performance.now();
    for (const vector of sample) projectVector(projection, vector);
    const projectUs = ((performance.now() - started) * 1000) / sample.length;

    const deps = createPromotionDeps({ dynamo, s3, itemsTable, bucket: stack.bucket, settleMs: 0 });
    log('promoting...');
    started = performance.now();
    const result = await promoteProjection(deps, { base: { modelId: MODEL, dim: DIM }, projection });
    const promoteMs = performance.now() - started;

    const resolver = spaceResolver(
      { s3, bucket: stack.bucket, ttlMs: 60_000, artefacts: true },
      { modelId: MODEL, dim: DIM },
    );
    started = performance.now();
    const resolved = await resolver.resolve();
    const coldResolveMs = performance.now() - started;
    started = performance.now();
    for (let i = 0; i < 1000; i++) await resolver.resolve();
    const cachedResolveUs = ((performance.now() - started) * 1000) / 1000;
    if (resolved.served !== result.space)
      throw new Error(`resolved ${resolved.served}, promoted ${result.space}`);

    const summary = {
      bench: 'promote',
      items: ITEMS,
      dim: DIM,
      similar_pairs: projection.data.similarPairs,
      fit_ms: round(fitMs),
      project_vector_us: round(projectUs),
      promote_ms: round(promoteMs),
      promote_ms_per_item: round(promoteMs / ITEMS, 3),
      projected: result.projected,
      snapshot_items: result.snapshot.count,
      registry_read_cold_ms: round(coldResolveMs),
      registry_read_cached_us: round(cachedResolveUs, 3),
      load_average_1m: round(loadavg()[0] ?? 0),
    };
    log(
      `${ITEMS} items promoted in ${round(promoteMs / 1000)} s (${round(promoteMs / ITEMS, 3)} ms per item, ` +
        `projectVector ${round(projectUs)} µs); a function's registry read: ${round(coldResolveMs)} ms cold, ` +
        `${round(cachedResolveUs, 3)} µs cached`,
    );
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } finally {
    dynamo.destroy();
    s3.destroy();
    await stack.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
