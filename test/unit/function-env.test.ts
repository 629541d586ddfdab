import { ENV } from '../../functions/contract/environment';
import { DEFAULT_PLACEMENTS } from '../../functions/contract/placements';
import { DEFAULT_PROFILE_SETTINGS } from '../../functions/domain/interest-profile';
import { DEFAULT_EXPLORATION, DEFAULT_RANKING_SETTINGS } from '../../functions/domain/ranking';
import { ConfigError, functionConfig, variablesOf } from '../../functions/wiring/environment';

const tables = {
  [ENV.EVENTS_TABLE]: 'events',
  [ENV.PROFILES_TABLE]: 'profiles',
  [ENV.STATS_TABLE]: 'stats',
  [ENV.ITEMS_TABLE]: 'items',
  [ENV.IMPRESSIONS_TABLE]: 'impressions',
  [ENV.RULES_TABLE]: 'rules',
  [ENV.CATALOGUE_BUCKET]: 'bucket',
  [ENV.ACTIVE_MODEL_ID]: 'model-a',
  [ENV.MODEL_DIMENSION]: '256',
};

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('function environments', () => {
  it('applies the documented defaults', () => {
    const track = functionConfig('track', tables);
    expect(track.tables).toEqual({ events: 'events', profiles: 'profiles', stats: 'stats', items: 'items' });
    expect(track.dim).toBe(256);
    expect(track.eventTtlMs).toBe(90 * 86_400_000);
    expect(track.maxAgeMs).toBe(30 * 86_400_000);
    expect(track.maxFutureMs).toBe(300_000);
    expect(track.profileSettings).toEqual(DEFAULT_PROFILE_SETTINGS);
    const recommend = functionConfig('recommend', tables);
    expect(recommend.backend).toBe('exact');
    expect(recommend.ranking).toEqual(DEFAULT_RANKING_SETTINGS);
    expect(recommend.tables).toEqual({
      events: 'events',
      profiles: 'profiles',
      stats: 'stats',
      items: 'items',
      impressions: 'impressions',
      rules: 'rules',
    });
    expect(recommend.impressionTtlDays).toBe(30);
    expect(recommend.rulesCacheMs).toBe(4000);
    expect(track.impressionsTable).toBe('impressions');
    expect(track.rulesTable).toBe('rules');
    expect(() => functionConfig('recommend', { ...tables, RULES_CACHE_MS: '5001' })).toThrow(
      /RULES_CACHE_MS/,
    );
    expect(functionConfig('embed', tables).vectorIndex).toBeUndefined();
  });

  it('gives track and recommend the same short-term popularity half-life: 1 day, or the one set (1 s..7 days)', () => {
    expect(functionConfig('track', tables).trendingHalfLifeMs).toBe(86_400_000);
    expect(functionConfig('recommend', tables).trendingHalfLifeMs).toBe(86_400_000);
    const set = { ...tables, TRENDING_HALF_LIFE_MS: '2000' };
    expect(functionConfig('track', set).trendingHalfLifeMs).toBe(2000);
    expect(functionConfig('recommend', set).trendingHalfLifeMs).toBe(2000);
    for (const bad of ['999', String(7 * 86_400_000 + 1), 'soon'])
      expect(() => functionConfig('track', { ...tables, TRENDING_HALF_LIFE_MS: bad })).toThrow(
        /TRENDING_HALF_LIFE_MS/,
      );
  });

  it('reads set values, treating blank as unset', () => {
    const config = functionConfig('recommend', {
      ...tables,
      [ENV.SERVING_BACKEND]: 'dynamodb-vector',
      [ENV.MMR_LAMBDA]: '0.5',
      [ENV.EVENT_WEIGHTS]: '{"like":3}',
      [ENV.IMAGE_URL_TTL_SECONDS]: ' ',
    });
    expect(config.backend).toBe('dynamodb-vector');
    expect(config.ranking.mmrLambda).toBe(0.5);
    expect(config.profileSettings.weights).toEqual({ ...DEFAULT_PROFILE_SETTINGS.weights, like: 3 });
    expect(config.urlTtlSeconds).toBe(900);
    expect(
      functionConfig('embed', {
        ...tables,
        [ENV.EXTRA_MODEL_MANIFESTS]: ' /opt/a.json, ,/opt/b.json',
        [ENV.VECTOR_INDEX_ATTRIBUTE]: 'vec',
        [ENV.VECTOR_INDEX_MODEL_ID]: 'model-a',
        [ENV.VECTOR_INDEX_DIMENSION]: '256',
      }),
    ).toMatchObject({
      extraManifests: ['/opt/a.json', '/opt/b.json'],
      vectorIndex: { attribute: 'vec', modelId: 'model-a', dim: 256 },
    });
  });

  it('caps the event age at the event TTL', () => {
    const config = functionConfig('track', {
      ...tables,
      [ENV.EVENT_TTL_DAYS]: '7',
      [ENV.EVENT_MAX_AGE_DAYS]: '30',
    });
    expect(config.maxAgeMs).toBe(7 * 86_400_000);
  });

  it('names every bad variable in one error', () => {
    const error = configError(() =>
      functionConfig('recommend', {
        [ENV.EVENTS_TABLE]: 'events',
        [ENV.STATS_TABLE]: 'stats',
        [ENV.ITEMS_TABLE]: 'items',
        [ENV.IMPRESSIONS_TABLE]: 'impressions',
        [ENV.RULES_TABLE]: 'rules',
        [ENV.CATALOGUE_BUCKET]: '',
        [ENV.ACTIVE_MODEL_ID]: 'model-a',
        [ENV.MODEL_DIMENSION]: 'many',
        [ENV.SERVING_BACKEND]: 'faiss',
        [ENV.MMR_LAMBDA]: '2',
        [ENV.EVENT_WEIGHTS]: '{"wink":1,"like":-1}',
      }),
    );
    expect(error.code).toBe('invalid_environment');
    const text = error.problems.join('\n');
    for (const name of [
      ENV.PROFILES_TABLE,
      ENV.CATALOGUE_BUCKET,
      ENV.MODEL_DIMENSION,
      ENV.SERVING_BACKEND,
      ENV.MMR_LAMBDA,
      ENV.EVENT_WEIGHTS,
    ]) {
      expect(text).toContain(name);
    }
    expect(text).toContain('many must be a number in [1, Infinity]');
    expect(text).toContain('2 must be a number in [0, 1]');
    expect(text).toContain(`${ENV.EVENT_WEIGHTS} like: must be a number >= 0`);
    expect(error.problems).toHaveLength(6);
  });

  it('refuses EVENT_WEIGHTS that are not JSON, or name an unknown event type', () => {
    const notJson = configError(() =>
      functionConfig('track', { ...tables, [ENV.EVENT_WEIGHTS]: '{like:1}' }),
    );
    expect(notJson.problems).toEqual([`${ENV.EVENT_WEIGHTS} is not JSON`]);
    const unknown = configError(() =>
      functionConfig('track', { ...tables, [ENV.EVENT_WEIGHTS]: '{"wink":1,"like":2}' }),
    );
    expect(unknown.problems).toEqual([`${ENV.EVENT_WEIGHTS} unknown event type wink`]);
  });

  it('reads EXPLORATION: defaults, per-placement settings on top of them, and a clear error otherwise', () => {
    expect(functionConfig('recommend', tables).exploration).toEqual({ default: DEFAULT_EXPLORATION });
    const set = functionConfig('recommend', {
      ...tables,
      [ENV.EXPLORATION]: '{"share":0.1,"placements":{"home":{"share":0.3},"pdp":{"share":0}}}',
    }).exploration;
    expect(set).toEqual({
      default: { ...DEFAULT_EXPLORATION, share: 0.1 },
      placements: {
        home: { ...DEFAULT_EXPLORATION, share: 0.3 },
        pdp: { ...DEFAULT_EXPLORATION, share: 0 },
      },
    });
    expect(
      configError(() => functionConfig('recommend', { ...tables, [ENV.EXPLORATION]: '{share:1}' })).problems,
    ).toEqual([`${ENV.EXPLORATION} is not JSON`]);
    const bad = configError(() =>
      functionConfig('recommend', {
        ...tables,
        [ENV.EXPLORATION]: '{"share":1.5,"placements":{"Home Page":{}},"explore":true}',
      }),
    );
    expect(bad.problems.join('\n')).toMatch(/share: .*<=1/);
    expect(bad.problems.join('\n')).toMatch(/placements.Home Page: placement names are lower-case/);
    expect(bad.problems.join('\n')).toMatch(/explore/);
  });

  it('reads PLACEMENTS: the default placements when unset, the named ones otherwise, and a clear error', () => {
    expect(functionConfig('recommend', tables).placements).toEqual(DEFAULT_PLACEMENTS);
    expect(
      functionConfig('recommend', {
        ...tables,
        [ENV.PLACEMENTS]: '{"home":{},"pdp":{"limit":4,"mmrLambda":0.9}}',
      }).placements,
    ).toEqual({ home: {}, pdp: { limit: 4, mmrLambda: 0.9 } });
    const bad = configError(() =>
      functionConfig('recommend', {
        ...tables,
        [ENV.PLACEMENTS]: '{"home":{"limit":500},"Home Page":{},"x":{"y":1}}',
      }),
    );
    expect(bad.problems.join('\n')).toMatch(/home.limit: .*<=100/);
    expect(bad.problems.join('\n')).toMatch(/Home Page: placement names are 1..64/);
    expect(bad.problems.join('\n')).toMatch(/x: .*y/);
  });

  it('lists what each function reads; recommend reads the Events table (to refold a profile of another space)', () => {
    // co-engagement also counts co-purchases: a basket event's user's earlier basket events (issue 22).
    // ...and joins the events that name a list to it (attribution, issue 25).
    expect(variablesOf('co-engagement')).toEqual([ENV.STATS_TABLE, ENV.EVENTS_TABLE, ENV.IMPRESSIONS_TABLE]);
    expect(variablesOf('impression-counts')).toEqual([ENV.STATS_TABLE]);
    expect(variablesOf('recommend')).toContain(ENV.EVENTS_TABLE);
    expect(variablesOf('track')).toContain(ENV.EVENTS_TABLE);
  });
});
