/**
 * The recommend function's memory follows the expected catalogue (exact backend), and a catalogue past
 * the exact index's ceiling is a synth warning pointing at dynamodb-vector (README, "Capacity").
 */
import { App } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { defaultManifestPath } from '../../functions/embedding/embedder';
import { loadManifest } from '../../functions/embedding/model-manifest';
import {
  BASE_MEMORY_MB,
  capacityAt,
  capacityWarnings,
  exactIndexCeiling,
  LAMBDA_MAX_MEMORY_MB,
  MEMORY_HEADROOM,
  MIN_RECOMMEND_MEMORY_MB,
  recommendMemoryMb,
} from '../../infra/constructs/recommend-capacity';
import { LookalikeStack, type LookalikeStackProps } from '../../infra/lookalike-stack';

const { dim } = loadManifest(defaultManifestPath()).manifest.output;
const WARNING = Match.stringLikeRegexp("expectedCatalogueItems .* servingBackend 'dynamodb-vector'");

// No bundling: the functions' code does not change their memory or the stack's warnings.
const unbundled = () => new App({ context: { 'aws:cdk:bundling-stacks': [] } });

function synth(id: string, props: LookalikeStackProps) {
  const stack = new LookalikeStack(unbundled(), id, props);
  const recommend = Object.values(
    Template.fromStack(stack).findResources('AWS::Lambda::Function', {
      Properties: { Environment: { Variables: { POWERTOOLS_SERVICE_NAME: 'recommend' } } },
    }),
  );
  expect(recommend).toHaveLength(1);
  return {
    memory: (recommend[0] as { Properties: { MemorySize: number } }).Properties.MemorySize,
    annotations: Annotations.fromStack(stack),
  };
}

describe('recommend memory from the expected catalogue', () => {
  it('is measured MB/item x items x headroom + base, in whole 64 MB, from 2048 to 10,240', () => {
    const { mbPerItem } = capacityAt(dim);
    const items = Math.ceil((4096 - BASE_MEMORY_MB) / MEMORY_HEADROOM / mbPerItem);
    const expected = Math.ceil((mbPerItem * items * MEMORY_HEADROOM + BASE_MEMORY_MB) / 64) * 64;
    expect(expected).toBeGreaterThan(MIN_RECOMMEND_MEMORY_MB);
    expect(recommendMemoryMb(items, dim)).toBe(expected);
    expect(recommendMemoryMb(items, dim) % 64).toBe(0);
    expect(recommendMemoryMb(1000, dim)).toBe(MIN_RECOMMEND_MEMORY_MB);
    expect(recommendMemoryMb(100_000_000, dim)).toBe(LAMBDA_MAX_MEMORY_MB);
    // A wider model needs more per item.
    expect(capacityAt(256).mbPerItem).toBeGreaterThan(capacityAt(128).mbPerItem);
    expect(recommendMemoryMb(5_000_000, 256)).toBeGreaterThan(recommendMemoryMb(5_000_000, 128));
  });

  it('keeps 2048 MB and warns of nothing when the catalogue size is not given', () => {
    const { memory, annotations } = synth('CapacityDefault', {});
    expect(memory).toBe(MIN_RECOMMEND_MEMORY_MB);
    annotations.hasNoWarning('*', WARNING);
  });

  it('sizes the function for a large catalogue and warns at synth past the ceiling', () => {
    const ceiling = exactIndexCeiling(dim, LAMBDA_MAX_MEMORY_MB);
    const items = 4 * ceiling;
    const large = synth('CapacityLarge', { expectedCatalogueItems: items });
    expect(large.memory).toBe(recommendMemoryMb(items, dim));
    expect(capacityWarnings(items, dim, large.memory).length).toBeGreaterThan(0);
    large.annotations.hasWarning('*', WARNING);

    // The same catalogue served from DynamoDB's vector index: no in-memory index to size or warn of.
    const vector = synth('CapacityVector', {
      expectedCatalogueItems: items,
      servingBackend: 'dynamodb-vector',
    });
    expect(vector.memory).toBe(2048);
    vector.annotations.hasNoWarning('*', WARNING);
  });

  it('warns when an explicit memory is too small for the catalogue, and refuses a bad size', () => {
    // Under the cold-start ceiling, but its index alone would fill most of 256 MB.
    const items = 400_000;
    const memory = 256;
    expect(items).toBeLessThan(exactIndexCeiling(dim, 2048));
    expect(capacityWarnings(items, dim, memory).join()).toMatch(/over 80% of the function's 256 MB/);
    const small = synth('CapacitySmall', { expectedCatalogueItems: items, recommendMemorySize: memory });
    expect(small.memory).toBe(memory);
    small.annotations.hasWarning('*', Match.stringLikeRegexp("over 80% of the function's 256 MB"));
    for (const expectedCatalogueItems of [0, -5, 1.5, Number.NaN]) {
      expect(() => new LookalikeStack(unbundled(), 'CapacityBad', { expectedCatalogueItems })).toThrow(
        /expectedCatalogueItems must be a whole number/,
      );
    }
  });
});
