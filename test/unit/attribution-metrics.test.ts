/**
 * Attribution's CloudWatch metrics (issue 25): EMF lines per placement, strategy and source, with
 * those three dimensions only (bounded), merged per cell; organic and unattributed without them.
 */
import { Metrics } from '@aws-lambda-powertools/metrics';
import { publishAttribution } from '../../functions/platform/attribution-metrics';

type Emf = {
  _aws: { CloudWatchMetrics: Array<{ Dimensions: string[][]; Metrics: Array<{ Name: string }> }> };
  [key: string]: unknown;
};

describe('publishAttribution', () => {
  const saved = { ...process.env };
  afterAll(() => {
    for (const key of ['POWERTOOLS_DEV', 'POWERTOOLS_METRICS_DISABLED']) delete process.env[key];
    Object.assign(process.env, saved);
  });

  it('publishes each cell’s counts with its placement, strategy and source, merged per cell', () => {
    // Dev mode: the EMF lines go to the global console, where the test reads them (dev mode turns
    // metrics off unless told otherwise).
    process.env.POWERTOOLS_DEV = 'true';
    process.env.POWERTOOLS_METRICS_DISABLED = 'false';
    const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    const metrics = new Metrics({ namespace: 'Test', serviceName: 'co-engagement' });
    const home = { placement: 'home', strategy: 'personal' as const, source: 'organic' as const };
    publishAttribution(
      {
        cells: [
          { cell: home, counts: { clicks: 1 } },
          { cell: home, counts: { clicks: 1, purchases: 1, revenue: 12.5 } },
          { cell: { ...home, source: 'exploration' }, counts: { impressions: 3 } },
        ],
        organic: 2,
        unattributed: 1,
      },
      metrics,
    );
    metrics.publishStoredMetrics();
    const lines = log.mock.calls.map(([line]) => JSON.parse(String(line)) as Emf);
    log.mockRestore();

    const withCell = lines.filter((line) => line.placement !== undefined);
    const values = withCell.map((line) => {
      const [definition] = line._aws.CloudWatchMetrics;
      const name = definition?.Metrics[0]?.Name as string;
      return [line.placement, line.strategy, line.source, name, line[name]];
    });
    expect(values.sort()).toEqual(
      [
        ['home', 'personal', 'exploration', 'attributed_impressions', 3],
        ['home', 'personal', 'organic', 'attributed_clicks', 2],
        ['home', 'personal', 'organic', 'attributed_purchases', 1],
        ['home', 'personal', 'organic', 'attributed_revenue', 12.5],
      ].sort(),
    );
    for (const line of withCell)
      expect(line._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([
        ['service', 'placement', 'strategy', 'source'],
      ]);
    const rest = lines.find((line) => line.organic_events !== undefined);
    expect(rest).toMatchObject({ organic_events: 2, unattributed_events: 1 });
    expect(rest?.placement).toBeUndefined();
  });
});
