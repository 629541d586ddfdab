import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { AttributionCounters } from '../adapters/dynamodb/attribution-counters';
import { DynamoImpressionLog } from '../adapters/dynamodb/impression-log';
import { MAX_PROFILE_ROW_BYTES, ProfileStore } from '../adapters/dynamodb/profile-store';
import { RuleStore } from '../adapters/dynamodb/rule-store';
import { metricsReport } from '../app/attribution';
import {
  createRule,
  DeleteRuleQuerySchema,
  deleteRule,
  getRule,
  listRules,
  type RulesDeps,
  updateRule,
} from '../app/rules';
import {
  DEFAULT_TRACKING_POLICY,
  editInterest,
  type InterestPatch,
  InterestPatchSchema,
  recordEvents,
  type TrackDeps,
  UserWriteQueue,
} from '../app/track-events';
import { MAX_JSON_BODY_BYTES } from '../contract/routes';
import { MAX_RULE_BODY_BYTES } from '../contract/rules';
import { Forbidden } from '../domain/errors';
import { describeIssues, EventBatchSchema } from '../domain/event-schema';
import { maxProfileBytes } from '../domain/interest-profile';
import {
  BadRequest,
  type JsonResponse,
  json,
  parseJsonBody,
  pathInterestId,
  pathUserId,
  queryParameters,
} from '../http/api';
import { canActFor, isAdmin, resolveCaller } from '../http/identity';
import { apiFunction } from '../http/router';
import { dynamoClient, s3Client } from '../platform/clients';
import { observability } from '../platform/observability';
import { functionConfig } from '../wiring/environment';
import { spaceResolver } from '../wiring/learned-space';

const { logger, metrics } = observability('track');
const env = functionConfig('track');
const { identity } = env;
const policy: TrackDeps['policy'] = {
  ...DEFAULT_TRACKING_POLICY,
  settings: env.profileSettings,
  eventTtlMs: env.eventTtlMs,
  // Never beyond the TTL (environment.ts caps it): an event older than its own expiry would vanish at once.
  maxAgeMs: env.maxAgeMs,
  maxFutureMs: env.maxFutureMs,
  trendingHalfLifeMs: env.trendingHalfLifeMs,
};
const base = { modelId: env.modelId, dim: env.dim };
// Profiles are folded in the space recommend serves: the deployed model's, or its learned projection's
// (the spaces registry, read at most once per SPACE_REFRESH_MS; ids only, the vectors are in the items).
const spaces = spaceResolver(
  {
    s3: s3Client(),
    ...env.spaces,
    artefacts: false,
    // A failed read keeps the space last read for another TTL rather than refuse events.
    keepOnError: (error) =>
      logger.warn('spaces registry unreadable; folding in the space last read', { error: error as Error }),
  },
  base,
);
const stores = new Map<string, ProfileStore>();
const storeFor = (space: string): ProfileStore => {
  let store = stores.get(space);
  if (!store) {
    stores.clear();
    store = new ProfileStore(dynamoClient(), env.tables, space);
    stores.set(space, store);
  }
  return store;
};
const impressions = new DynamoImpressionLog(dynamoClient(), env.impressionsTable);
// Attribution's daily rows (GET /admin/metrics) and the user's cells an erasure deletes (issue 25).
const attribution = new AttributionCounters(dynamoClient(), env.tables.stats);
// One queue per instance: this instance's requests for one user commit one after another.
const queue = new UserWriteQueue();
async function trackDeps(): Promise<TrackDeps> {
  const { served } = await spaces.resolve();
  return { store: storeFor(served), space: served, dim: env.dim, policy, queue };
}
// A profile row must stay under DynamoDB's 400 KB item limit whatever the events: fail at cold start
// on settings (centroids x dimension) that would not leave room for the bounded lists.
if (maxProfileBytes(policy.settings, env.dim) > MAX_PROFILE_ROW_BYTES)
  throw new Error(
    `MAX_INTEREST_CENTROIDS ${policy.settings.maxCentroids} x MODEL_DIMENSION ${env.dim}: a profile could exceed ${MAX_PROFILE_ROW_BYTES} bytes`,
  );

async function postEvents(event: APIGatewayProxyEventV2, bulkImport: boolean): Promise<JsonResponse> {
  const body = parseJsonBody(event, MAX_JSON_BODY_BYTES);
  const envelope = EventBatchSchema.safeParse(body);
  if (!envelope.success) throw new BadRequest('invalid_batch', describeIssues(envelope.error));
  const caller = resolveCaller(event, identity);
  if (bulkImport && caller.kind === 'user')
    throw new Forbidden('the import route is for trusted back ends (IAM), not user tokens');
  // Authorisation happens here, once: a user token writes that user's events only, and one foreign
  // event refuses the whole request (403) before anything is recorded; IAM callers may write anyone's.
  const foreign = envelope.data.events.find((e) => {
    const userId = (e as { userId?: unknown })?.userId;
    return typeof userId === 'string' && !canActFor(caller, userId);
  });
  if (foreign)
    throw new Forbidden(`not allowed to post events for ${(foreign as { userId: string }).userId}`);
  const deps = await trackDeps();
  const results = await recordEvents(
    deps,
    envelope.data.events,
    bulkImport ? { maxAgeMs: deps.policy.eventTtlMs } : {},
  );
  const counts = { accepted: 0, duplicate: 0, rejected: 0 };
  for (const result of results) counts[result.status]++;
  for (const [status, count] of Object.entries(counts))
    metrics.addMetric(`events_${status}`, MetricUnit.Count, count);
  return json(202, { ...counts, results });
}

async function deleteUser(event: APIGatewayProxyEventV2): Promise<JsonResponse> {
  const userId = pathUserId(event);
  if (!canActFor(resolveCaller(event, identity), userId))
    throw new Forbidden(`not allowed to erase ${userId}`);
  // Erasure does not depend on the space: any store erases the same rows. The user's impressions
  // (the lists served to them) go at the same time.
  const [{ events }, impressionsErased, attributionCells] = await Promise.all([
    storeFor((await spaces.resolve()).served).deleteUser(userId),
    impressions.eraseUser(userId),
    attribution.eraseUser(userId),
  ]);
  logger.info('user erased', { userId, events, impressions: impressionsErased, attributionCells });
  return json(200, { userId, erased: true, events, impressions: impressionsErased, attributionCells });
}

/** An interest edit (issue 23): the user's own interests only, like every user route. */
async function interestEdit(event: APIGatewayProxyEventV2, patch: InterestPatch): Promise<JsonResponse> {
  const userId = pathUserId(event);
  if (!canActFor(resolveCaller(event, identity), userId))
    throw new Forbidden(`not allowed to edit the interests of ${userId}`);
  const interestId = pathInterestId(event);
  const edited = await editInterest(await trackDeps(), userId, interestId, patch);
  logger.info('interest edited', { userId, interestId, action: edited.action });
  metrics.addMetric(`interest_${edited.action}`, MetricUnit.Count, 1);
  return json(200, edited);
}

function interestPatch(event: APIGatewayProxyEventV2): InterestPatch {
  const parsed = InterestPatchSchema.safeParse(parseJsonBody(event, MAX_INTEREST_BODY_BYTES));
  if (!parsed.success) throw new BadRequest('invalid_interest_edit', describeIssues(parsed.error));
  return parsed.data;
}
const MAX_INTEREST_BODY_BYTES = 1024;

const rules: RulesDeps = {
  repository: new RuleStore(dynamoClient(), env.rulesTable),
  placements: env.placements,
};

/** The rules and metrics routes are for admins only: users get 403 (the route's authorizer has let them in). */
function asAdmin(
  action: (event: APIGatewayProxyEventV2) => Promise<JsonResponse>,
  what = 'merchandising rules are managed',
) {
  return async (event: APIGatewayProxyEventV2): Promise<JsonResponse> => {
    if (!isAdmin(resolveCaller(event, identity)))
      throw new Forbidden(`${what} with an admin token (the admin scope or group)`);
    return action(event);
  };
}

const ruleIdOf = (event: APIGatewayProxyEventV2) => event.pathParameters?.ruleId ?? '';

async function changedRule(event: APIGatewayProxyEventV2, change: string, ruleId: string) {
  const caller = resolveCaller(event, identity);
  logger.info('rule changed', { change, ruleId, by: caller.kind === 'user' ? caller.userId : caller.kind });
  metrics.addMetric(`rules_${change}`, MetricUnit.Count, 1);
}

export const { handler, router } = apiFunction(
  'track',
  {
    'POST /events': (event) => postEvents(event, false),
    'POST /events/import': (event) => postEvents(event, true),
    'DELETE /users/{userId}': deleteUser,
    'PATCH /users/{userId}/interests/{interestId}': (event) => interestEdit(event, interestPatch(event)),
    'DELETE /users/{userId}/interests/{interestId}': (event) => interestEdit(event, { action: 'forget' }),
    'GET /rules': asAdmin(async () => json(200, await listRules(rules))),
    'POST /rules': asAdmin(async (event) => {
      const rule = await createRule(rules, parseJsonBody(event, MAX_RULE_BODY_BYTES));
      await changedRule(event, 'created', rule.ruleId);
      return json(201, rule);
    }),
    'GET /rules/{ruleId}': asAdmin(async (event) => json(200, await getRule(rules, ruleIdOf(event)))),
    'PUT /rules/{ruleId}': asAdmin(async (event) => {
      const rule = await updateRule(rules, ruleIdOf(event), parseJsonBody(event, MAX_RULE_BODY_BYTES));
      await changedRule(event, 'updated', rule.ruleId);
      return json(200, rule);
    }),
    'DELETE /rules/{ruleId}': asAdmin(async (event) => {
      const query = DeleteRuleQuerySchema.safeParse(queryParameters(event, new Set()));
      if (!query.success) throw new BadRequest('invalid_query', describeIssues(query.error));
      const deleted = await deleteRule(rules, ruleIdOf(event), query.data.version);
      await changedRule(event, 'deleted', deleted.ruleId);
      return json(200, deleted);
    }),
    'GET /admin/metrics': asAdmin(
      async (event) =>
        json(
          200,
          await metricsReport(
            { metrics: attribution, placements: env.placements },
            queryParameters(event, new Set()),
          ),
        ),
      'attribution metrics are read',
    ),
  },
  { logger, metrics },
);
