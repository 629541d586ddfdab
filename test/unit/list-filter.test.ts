/**
 * List filters (functions/domain/list-filter.ts), pure, and the query reader that gives repeatable
 * parameters whole (functions/http/api.ts).
 */
import fc from 'fast-check';
import {
  canonicalFilter,
  filterPredicate,
  isFiltering,
  type ListFilter,
  withRelativePrice,
} from '../../functions/domain/list-filter';
import { queryParameters } from '../../functions/http/api';
import type { ItemAttributes } from '../../functions/vector-index';

const item = (attributes: Partial<ItemAttributes>): ItemAttributes => ({ available: true, ...attributes });

describe('filterPredicate', () => {
  it('accepts any of several categories', () => {
    const accepts = filterPredicate({ categories: ['hats', 'caps'] });
    expect(accepts(item({ category: 'caps' }))).toBe(true);
    expect(accepts(item({ category: 'shoes' }))).toBe(false);
    expect(accepts(item({}))).toBe(false);
  });

  it('matches any or all tags; an item without tags matches neither', () => {
    const wool = item({ tags: ['wool', 'red'] });
    expect(filterPredicate({ tags: ['wool', 'silk'] })(wool)).toBe(true);
    expect(filterPredicate({ tags: ['wool', 'silk'], tagMatch: 'all' })(wool)).toBe(false);
    expect(filterPredicate({ tags: ['red', 'wool'], tagMatch: 'all' })(wool)).toBe(true);
    expect(filterPredicate({ tags: ['wool'] })(item({}))).toBe(false);
    expect(filterPredicate({ tags: ['wool'], tagMatch: 'all' })(item({ tags: [] }))).toBe(false);
  });

  it('keeps prices within inclusive bounds and leaves out items without a price', () => {
    const accepts = filterPredicate({ minPrice: 10, maxPrice: 19.99 });
    expect([9.99, 10, 15, 19.99, 20].map((price) => accepts(item({ price })))).toEqual([
      false,
      true,
      true,
      true,
      false,
    ]);
    expect(accepts(item({}))).toBe(false);
    expect(filterPredicate({ maxPrice: 0 })(item({ price: 0 }))).toBe(true);
  });

  it('accepts everything without a filter, whatever the attributes', () => {
    expect(isFiltering(undefined)).toBe(false);
    expect(isFiltering({ categories: [], tags: [] })).toBe(false);
    fc.assert(
      fc.property(
        fc.record({
          category: fc.option(fc.string(), { nil: undefined }),
          price: fc.option(fc.double(), { nil: undefined }),
        }),
        (attributes) => filterPredicate(undefined)(item(attributes)) && filterPredicate({})(item(attributes)),
      ),
    );
  });

  it('relative price: the lower of ratio x price and the filter own bound', () => {
    expect(withRelativePrice(undefined, 0.8, 100)).toEqual({ maxPrice: 80 });
    expect(withRelativePrice({ maxPrice: 50, tags: ['a'] }, 0.8, 100)).toEqual({ maxPrice: 50, tags: ['a'] });
    expect(withRelativePrice({ maxPrice: 90 }, 0.8, 100)).toEqual({ maxPrice: 80 });
  });
});

describe('canonicalFilter', () => {
  it('is equal for filters that filter alike, and differs when they do not', () => {
    const a: ListFilter = { categories: ['b', 'a', 'a'], tags: ['x'], minPrice: 1 };
    const b: ListFilter = { categories: ['a', 'b'], tags: ['x'], tagMatch: 'any', minPrice: 1 };
    expect(canonicalFilter(a)).toBe(canonicalFilter(b));
    expect(canonicalFilter(undefined)).toBe(canonicalFilter({ categories: [] }));
    expect(canonicalFilter({ ...b, tagMatch: 'all' })).not.toBe(canonicalFilter(b));
    expect(canonicalFilter({ ...b, minPrice: 2 })).not.toBe(canonicalFilter(b));
    expect(canonicalFilter({ categories: ['a,b'] })).not.toBe(canonicalFilter({ categories: ['a', 'b'] }));
  });
});

describe('queryParameters', () => {
  const repeatable = new Set(['category', 'excludeIds']);

  it('reads every value of a repeatable parameter whole from the raw query string, commas included', () => {
    const event = {
      rawQueryString: 'category=hats&category=a%2Cb&excludeIds=sku%2C1&limit=5',
      // What API Gateway makes of it: the values joined with commas, which would split `a,b`.
      queryStringParameters: { category: 'hats,a,b', excludeIds: 'sku,1', limit: '5' },
    };
    expect(queryParameters(event, repeatable)).toEqual({
      category: ['hats', 'a,b'],
      excludeIds: ['sku,1'],
      limit: '5',
    });
  });

  it('hands a single-valued parameter given twice over as an array (for the schema to refuse)', () => {
    expect(queryParameters({ rawQueryString: 'limit=5&limit=6' }, repeatable)).toEqual({ limit: ['5', '6'] });
  });

  it('falls back to the parsed parameters when the raw query string is missing, each value whole', () => {
    expect(queryParameters({ queryStringParameters: { category: 'a,b', limit: '2' } }, repeatable)).toEqual({
      category: ['a,b'],
      limit: '2',
    });
    expect(queryParameters({}, repeatable)).toEqual({});
  });
});
