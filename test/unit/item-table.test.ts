import {
  INDEX_ATTRIBUTES,
  indexAttributes,
  itemProjection,
} from '../../functions/adapters/dynamodb/item-table';
import { ExactIndex } from '../../functions/vector-index';

describe('indexAttributes', () => {
  it('carries the tags and price of a row, as the item store writes them', () => {
    const row = {
      available: true,
      category: 'coats',
      createdAt: 1_764_000_000_000,
      tags: ['wool', 'ünï-🧵', 'red'],
      price: 19.99,
    };
    expect(indexAttributes(row)).toStrictEqual({
      available: true,
      category: 'coats',
      publishedAt: 1_764_000_000_000,
      tags: ['wool', 'ünï-🧵', 'red'],
      price: 19.99,
    });
    expect(indexAttributes({ available: false, createdAt: 5, price: 0 })).toStrictEqual({
      available: false,
      publishedAt: 5,
      price: 0,
    });
    // The index accepts what comes out.
    const index = new ExactIndex(2);
    index.upsert('coat', Float32Array.from([1, 0]), indexAttributes(row));
    expect(index.attributes('coat')?.tags).toEqual(['wool', 'ünï-🧵', 'red']);
    expect(index.attributes('coat')?.price).toBe(19.99);
  });

  it('leaves out tags and prices the index would refuse, rather than fail the refresh', () => {
    const malformed = {
      available: true,
      createdAt: 1,
      tags: ['ok', '', 7, 'ok', 'x'.repeat(2000), ...Array.from({ length: 40 }, (_, i) => `t${i}`)],
      price: -3,
    } as unknown as Parameters<typeof indexAttributes>[0];
    const attributes = indexAttributes(malformed);
    expect(attributes.price).toBeUndefined();
    expect(attributes.tags).toHaveLength(32);
    expect(attributes.tags?.slice(0, 2)).toEqual(['ok', 't0']);
    expect(() => new ExactIndex(2).upsert('x', Float32Array.from([1, 0]), attributes)).not.toThrow();

    const odd = { available: true, createdAt: 1, tags: 'red', price: Number.NaN } as unknown as Parameters<
      typeof indexAttributes
    >[0];
    expect(indexAttributes(odd)).toStrictEqual({ available: true, publishedAt: 1 });
    expect(indexAttributes({ available: true, createdAt: 1, tags: [] })).toStrictEqual({
      available: true,
      publishedAt: 1,
    });
    // A string set (DynamoDB SS) unmarshalls as a Set.
    const stringSet = { available: true, createdAt: 1, tags: new Set(['a', 'b']) } as unknown as Parameters<
      typeof indexAttributes
    >[0];
    expect(indexAttributes(stringSet).tags).toEqual(['a', 'b']);
  });

  it('is read through a projection that names tags and price', () => {
    expect(INDEX_ATTRIBUTES).toEqual(
      expect.arrayContaining(['available', 'category', 'publishedAt', 'createdAt', 'tags', 'price']),
    );
    const projection = itemProjection(['itemId', ...INDEX_ATTRIBUTES], 'model-a');
    expect(projection.ProjectionExpression).toBe(
      '#itemId, #available, #category, #publishedAt, #createdAt, #tags, #price, #vectors.#model',
    );
    expect(projection.ExpressionAttributeNames).toMatchObject({ '#tags': 'tags', '#price': 'price' });
  });
});
