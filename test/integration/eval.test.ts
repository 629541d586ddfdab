import { randomBytes } from 'node:crypto';
import { type EvaluationResult, evaluate, markdownTable } from '../eval/evaluate';
import { CLAIM } from '../eval/report';
import { PROTOCOL } from '../eval/run';
import { DYNAMODB_ENDPOINT_ENV } from '../support/shared-dynamodb';

/**
 * The offline evaluation's report run at the CI preset (a smaller catalogue and fewer users than
 * `npm run eval`): real ingestion, events through POST /events, the real recommendation endpoint.
 */
describe('offline evaluation (CI preset, report run)', () => {
  const saved = { ...process.env };
  let result: EvaluationResult;

  beforeAll(async () => {
    result = await evaluate({
      ...PROTOCOL.report,
      preset: 'ci',
      dynamoEndpoint: process.env[DYNAMODB_ENDPOINT_ENV] || undefined,
      tablePrefix: `eval-${randomBytes(4).toString('hex')}-`,
      log: () => {},
    });
    process.stdout.write(`${markdownTable(result)}\n`);
  }, 300_000);

  afterAll(() => {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  });

  const score = (method: string, metric: (typeof CLAIM.metrics)[number]) => {
    const found = result.methods.find((m) => m.id === method);
    if (!found) throw new Error(`no method ${method}`);
    return found.scores[metric];
  };

  it.each(CLAIM.baselines.flatMap((baseline) => CLAIM.metrics.map((metric) => [baseline, metric] as const)))(
    'Lookalike’s default beats %s on %s',
    (baseline, metric) => {
      expect(score('lookalike', metric)).toBeGreaterThan(score(baseline, metric));
    },
  );

  it('recomputes the endpoint’s lists offline from the raw events', () => {
    expect(result.endpointCheck.identicalLists).toBe(result.endpointCheck.users);
    expect(result.endpointCheck.identicalAfterColdUpload).toBe(result.endpointCheck.users);
  });
});
