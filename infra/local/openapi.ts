/**
 * The OpenAPI 3.1 description of the HTTP API, generated from the route table and the zod schemas the
 * handlers validate with, so it cannot drift from the code: a unit test compares it with the checked-in
 * docs/openapi.json (`npx tsx infra/local/write-openapi.ts` rewrites that). Served locally at /openapi.json.
 */
import * as z from 'zod';
import { MetricsQuerySchema, type metricsReport } from '../../functions/app/attribution';
import {
  ComplementsQuerySchema,
  type complementItems,
  type HistoryItem,
  HistoryQuerySchema,
  type itemDetails,
  ListQuerySchema,
  type RecommendationItem,
  type recommendForUser,
  SearchQuerySchema,
  SimilarQuerySchema,
  type searchByImage,
  type similarItems,
  TrendingQuerySchema,
  type trendingItems,
  type userHistory,
  type userInterests,
} from '../../functions/app/recommend';
import {
  DeleteRuleQuerySchema,
  type deleteRule,
  type listRules,
  type ruleView,
} from '../../functions/app/rules';
import { type editInterest, InterestPatchSchema, type recordEvents } from '../../functions/app/track-events';
import {
  MAX_IMAGE_BODY_BYTES,
  MAX_JSON_BODY_BYTES,
  ROUTES,
  type Route,
  type RouteAuth,
  routeKey,
} from '../../functions/contract/routes';
import {
  MAX_RULE_BODY_BYTES,
  RULE_LISTS,
  RuleConditionSchema,
  ruleSchemaWith,
} from '../../functions/contract/rules';
import { INVALID_IMAGE_CODES } from '../../functions/domain/errors';
import {
  EventBatchSchema,
  MAX_EVENTS_PER_REQUEST,
  TrackedEventSchema,
} from '../../functions/domain/event-schema';
import { STRATEGIES } from '../../functions/domain/impressions';
import {
  HISTORY_KINDS,
  INTEREST_ACTIONS,
  INTEREST_ID_PATTERN,
} from '../../functions/domain/interest-profile';
import type { Reason } from '../../functions/domain/ranking';
import { version } from '../../package.json';
import type { ExtraRoute } from './api-server';

type JsonObject = { [key: string]: unknown };

/** Schemas that become `components/schemas` entries; any schema nested in another is a `$ref`. */
const components = z.registry<{ id: string }>();
const component = <T extends z.ZodType>(id: string, schema: T, description?: string): T => {
  const described = description ? schema.describe(description) : schema;
  components.add(described, { id });
  return described;
};

const ErrorSchema = component(
  'Error',
  z.object({
    code: z.string().describe('Stable machine-readable code, e.g. invalid_query, unknown_item, not_an_image'),
    message: z.string().describe('For people; may change between versions'),
    details: z.record(z.string(), z.unknown()).optional(),
    requestId: z
      .string()
      .optional()
      .describe('Correlation id of the request (absent when API Gateway itself answered)'),
  }),
  'Every 4xx and 5xx answer has this shape.',
);

const TrackedEvent = component('TrackedEvent', TrackedEventSchema, 'One user interaction with an item.');
const EventBatch = component(
  'EventBatch',
  EventBatchSchema.extend({ events: z.array(TrackedEvent).min(1).max(MAX_EVENTS_PER_REQUEST) }),
  'Each event is validated on its own: an invalid one is rejected in the results and the rest are recorded.',
);

const EventResultSchema = component(
  'EventResult',
  z.discriminatedUnion('status', [
    z.object({ index: z.number().int().nonnegative(), eventId: z.string(), status: z.literal('accepted') }),
    z
      .object({ index: z.number().int().nonnegative(), eventId: z.string(), status: z.literal('duplicate') })
      .describe('This eventId was already recorded with the same payload: retries are safe'),
    z.object({
      index: z.number().int().nonnegative(),
      eventId: z.string().optional(),
      status: z.literal('rejected'),
      code: z
        .string()
        .describe(
          'invalid_event, invalid_id, timestamp_in_future, timestamp_too_old, event_id_conflict, unknown_item, item_not_ready',
        ),
      message: z.string(),
    }),
  ]),
);

const EventResults = component(
  'EventResults',
  z.object({
    accepted: z.number().int().nonnegative(),
    duplicate: z.number().int().nonnegative(),
    rejected: z.number().int().nonnegative(),
    results: z.array(EventResultSchema).describe('One per event, in request order (`index`)'),
  }),
);

/** Every reason may name the boost and bury rules that scaled the item's score. */
const ruled = {
  rules: z
    .array(z.string())
    .optional()
    .describe("The boost and bury rules (ids) that scaled this item's score"),
};
const ReasonSchema = component(
  'Reason',
  z.discriminatedUnion('kind', [
    z
      .object({ kind: z.literal('similar_to'), itemId: z.string(), similarity: z.number(), ...ruled })
      .describe('Looks like an item the user liked, bought or clicked'),
    z
      .object({ kind: z.literal('co_engaged'), itemId: z.string(), ...ruled })
      .describe('Users who engaged with that item also engaged with this one'),
    z.object({ kind: z.literal('popular'), ...ruled }).describe('Popular overall (users without history)'),
    z
      .object({
        kind: z.literal('trending'),
        recent: z
          .number()
          .describe('Engagement of the last day or so: event weights decayed with a 1-day half-life'),
        expected: z.number().describe("What recent would be had engagement kept the item's 30-day pace"),
        ...ruled,
      })
      .describe('Engagement rising faster than its long-run pace (GET /trending)'),
    z.object({ kind: z.literal('similar_to_item'), itemId: z.string(), ...ruled }),
    z.object({ kind: z.literal('similar_to_image'), ...ruled }),
    z
      .object({
        kind: z.literal('exploration'),
        itemId: z.string().optional().describe('The liked item (or the item shown) it looks most like'),
        similarity: z.number().optional(),
        publishedAt: z.number().describe('When the item went on offer (ms since 1970)'),
        ...ruled,
      })
      .describe('A new item, shown little so far, given one of the exploration slots'),
    z
      .object({ kind: z.literal('outside_filters'), ...ruled })
      .describe(
        'Fewer items than the limit match the filters and the list is not strict (strict=false): one of the best items without them',
      ),
    z
      .object({ kind: z.literal('pinned'), ruleId: z.string(), ...ruled })
      .describe('Put at this position by a merchandising pin (ruleId)'),
    z
      .object({
        kind: z.literal('promoted'),
        ruleId: z.string(),
        itemId: z.string().optional().describe('The liked item (or the item shown) it looks most like'),
        similarity: z.number().optional(),
        ...ruled,
      })
      .describe(
        "In one of a promotion's slots (ruleId): among the items it promotes, the best for this user",
      ),
    z
      .object({ kind: z.literal('co_purchased'), itemId: z.string(), ...ruled })
      .describe('Bought or put in a cart together with this item (itemId, the item shown) by the same users'),
    z
      .object({ kind: z.literal('bought_with_category'), category: z.string(), ...ruled })
      .describe(
        "Co-purchases of the item are too few: from this category, often bought with the item's, close to what those buyers chose",
      ),
  ]),
  'Why an item was recommended, for a "because you liked ..." line.',
);

const itemViewShape = {
  itemId: z.string(),
  title: z.string().optional(),
  category: z.string().optional(),
  price: z.number().optional(),
  tags: z.array(z.string()).optional(),
  available: z.boolean(),
  imageUrl: z
    .string()
    .optional()
    .describe('Presigned S3 GET URL of the image, valid for 15 minutes by default'),
};

const RecommendationItemSchema = component(
  'RecommendationItem',
  z.object({ ...itemViewShape, score: z.number(), reason: ReasonSchema }),
);

const recommendationListShape = {
  recommendationId: z
    .string()
    .describe(
      'A UUIDv7 (time-ordered) naming this list and its impression record; send it back as context.recommendationId on events about these items',
    ),
  strategy: z.enum(STRATEGIES),
  placement: z.string().describe("The placement asked for, or the strategy's name"),
  modelId: z.string(),
  items: z.array(RecommendationItemSchema),
  nextToken: z
    .string()
    .optional()
    .describe(
      'The next page: send it back as nextToken with the same parameters (limit may change). Absent once the candidate pool is exhausted. Good for 60 minutes by default; erased with the user',
    ),
};

const UserRecommendations = component(
  'UserRecommendations',
  z.object({ userId: z.string(), ...recommendationListShape }),
);
const SimilarItems = component('SimilarItems', z.object({ itemId: z.string(), ...recommendationListShape }));
const ComplementItems = component(
  'ComplementItems',
  z.object({ itemId: z.string(), ...recommendationListShape }),
);
const TrendingItems = component('TrendingItems', z.object(recommendationListShape).omit({ nextToken: true }));
const ImageSearchResults = component(
  'ImageSearchResults',
  z.object({ ...recommendationListShape, queryMs: z.object({ embed: z.number() }) }),
);

const isoTime = z.string().meta({ format: 'date-time', examples: ['2026-01-31T12:00:00.000Z'] });
const ItemDetails = component(
  'ItemDetails',
  z.object({
    ...itemViewShape,
    imageUrl: itemViewShape.imageUrl.unwrap().describe(itemViewShape.imageUrl.description ?? ''),
    status: z
      .enum(['ready', 'rejected'])
      .describe('rejected: the image could not be embedded (see rejection)'),
    rejection: z
      .object({ code: z.string().describe('e.g. not_an_image, pixel_limit'), message: z.string() })
      .optional(),
    lastUpdateError: z
      .object({
        code: z.string().describe('why the replacement was refused, e.g. truncated_image'),
        message: z.string(),
        key: z.string().describe('the S3 key of the refused replacement'),
        at: isoTime,
      })
      .optional()
      .describe(
        'A replacement image that could not be embedded; the item keeps serving its last good vector. Cleared by the next good upload.',
      ),
    modelIds: z.array(z.string()).describe('Models that have a vector for this item'),
    servedByActiveModel: z.boolean(),
    metadataWarnings: z
      .array(z.string())
      .optional()
      .describe('S3 metadata values that were present but unusable'),
    createdAt: isoTime,
    updatedAt: isoTime,
  }),
);

const HistoryItemSchema = component(
  'HistoryItem',
  z.object({
    ...itemViewShape,
    at: isoTime.describe('When the user last viewed (or clicked) or bought the item'),
  }),
);
const UserHistorySchema = component(
  'UserHistory',
  z.object({
    userId: z.string(),
    kind: z.enum(HISTORY_KINDS),
    items: z
      .array(HistoryItemSchema)
      .describe('Newest first, each item once; items deleted since are left out'),
  }),
);

const InterestSchema = component(
  'Interest',
  z.object({
    interestId: z
      .string()
      .describe("Stable: derived from the interest's earliest member event, so a rebuild gives the same id"),
    weight: z
      .number()
      .describe("The interest's share of the profile's decayed weight (0..1, boosts not counted)"),
    label: z.string().optional().describe('The most common category among its members'),
    memberCount: z
      .number()
      .int()
      .nonnegative()
      .describe('Member items still in the catalogue (the latest 20 at most)'),
    mutedUntil: isoTime.optional().describe('While muted: when the mute ends'),
    boostedUntil: isoTime.optional().describe('While boosted: when the boost ends'),
    items: z
      .array(z.object(itemViewShape))
      .describe('Its 3-4 most representative members (closest to its centroid first), with item views'),
  }),
);
const UserInterestsSchema = component(
  'UserInterests',
  z.object({ userId: z.string(), interests: z.array(InterestSchema).describe('Heaviest first') }),
);
const InterestPatch = component(
  'InterestPatch',
  InterestPatchSchema,
  'mute: the interest retrieves nothing for hours (default 168); boost: it weighs twice for hours (default 720); reset: lifts both.',
);
const InterestEditedSchema = component(
  'InterestEdited',
  z.object({
    userId: z.string(),
    interestId: z.string(),
    action: z.enum(INTEREST_ACTIONS),
    until: isoTime.optional().describe('When the mute or boost ends'),
  }),
);

const UserErased = component(
  'UserErased',
  z.object({
    userId: z.string(),
    erased: z.literal(true),
    events: z.number().int().nonnegative().describe('Events deleted'),
    impressions: z.number().int().nonnegative().describe('Impressions (lists served to the user) deleted'),
  }),
);

component('RuleCondition', RuleConditionSchema, 'Which items a rule is about: every part given must hold.');
const RuleDefinition = component(
  'RuleDefinition',
  ruleSchemaWith({}),
  `A merchandising rule. boost / bury: matching items' scores are multiplied / divided by factor (all rules on one item together stay within 1/10..10). pin: the item sits at position on the whole list (pages continue it) and nowhere else. promote: share of the slots go to the best matching items for this user. Applies to the lists named (${RULE_LISTS.join(', ')}; default personal and popular) on the placements named (* for all), from startsAt until endsAt.`,
);
const RuleUpdate = component(
  'RuleUpdate',
  ruleSchemaWith({
    version: z.number().int().min(1).describe('The version read: a stale one gets 409 version_conflict'),
  }),
  'The whole new definition and the version it replaces.',
);
const RuleSchema = component(
  'Rule',
  ruleSchemaWith({
    ruleId: z.string(),
    version: z.number().int().min(1).describe('1 when created, +1 per update'),
    status: z.enum(['active', 'scheduled', 'ended']).describe('Whether it is in effect now'),
    createdAt: isoTime,
    updatedAt: isoTime,
  }),
);
const RuleList = component(
  'RuleList',
  z.object({
    version: z.number().int().nonnegative().describe("The rule set's version: +1 on every change"),
    rules: z.array(RuleSchema).describe('Oldest first'),
  }),
);
const RuleDeleted = component('RuleDeleted', z.object({ ruleId: z.string(), deleted: z.literal(true) }));

const Estimate = component(
  'RatioEstimate',
  z
    .object({
      value: z.number().nullable().describe('The ratio (null: no impressions)'),
      low: z.number().nullable().describe('Lower end of the 95% interval (null: fewer than 2 user-days)'),
      high: z.number().nullable().describe('Upper end of the 95% interval'),
      standardError: z.number().nullable().describe('Delta-method standard error, a user-day as the unit'),
    })
    .describe('A ratio over the items shown, with its 95% confidence interval'),
);
const metricCounts = {
  userDays: z.number().int().describe('Users counted, once per day and cell (the unit of the intervals)'),
  impressions: z.number().int().describe('Items shown in lists served'),
  clicks: z.number().int(),
  addToCarts: z.number().int(),
  purchases: z.number().int(),
  revenue: z.number().describe("Sum of the items' prices at purchase"),
};
const metricRates = {
  clickThroughRate: Estimate,
  addToCartRate: Estimate,
  purchaseRate: Estimate,
  revenuePerImpression: Estimate,
};
const source = z.enum(['organic', 'exploration', 'pinned', 'promoted']);
const eventCounts = z.object({
  clicks: z.number().int(),
  addToCarts: z.number().int(),
  purchases: z.number().int(),
  revenue: z.number(),
});
const MetricsReportSchema = component(
  'MetricsReport',
  z.object({
    from: z.string().describe('First day (UTC), YYYY-MM-DD'),
    to: z.string().describe('Last day (UTC), YYYY-MM-DD'),
    placement: z.string().optional(),
    source: source.optional(),
    unit: z.literal('user-day'),
    confidence: z.literal(0.95),
    placements: z
      .array(
        z.object({
          placement: z.string(),
          source,
          ...metricCounts,
          ...metricRates,
          clickThroughVsOrganic: Estimate.optional().describe(
            "This source's click-through rate minus the placement's organic one",
          ),
        }),
      )
      .describe('Per placement and item source, over the period'),
    strategies: z
      .array(
        z.object({ placement: z.string(), strategy: z.string(), source, ...metricCounts, ...metricRates }),
      )
      .describe('Per placement, list strategy and item source'),
    daily: z
      .array(
        z.object({
          day: z.string(),
          placement: z.string(),
          ...metricCounts,
          clickThroughRate: Estimate,
          purchaseRate: Estimate,
        }),
      )
      .describe('Per day and placement, every source together (the charts)'),
    organic: eventCounts.describe('Events that named no list'),
    unattributed: eventCounts.describe(
      "Events that named a list the user was not served (unknown, expired, another user's) or an item not in it",
    ),
  }),
);

/** `true` when A and B have the same property names. */
type SameKeys<A, B> = [keyof A] extends [keyof B] ? ([keyof B] extends [keyof A] ? true : false) : false;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Returned<F extends (...args: never[]) => unknown> = Awaited<ReturnType<F>>;
type Assert<T extends true[]> = T;
/**
 * Compile-time drift check: `npm run typecheck` fails here when a handler's response gains or loses a
 * field that the document does not describe.
 */
export type DocumentedResponsesMatch = Assert<
  [
    SameKeys<z.output<typeof UserRecommendations>, Returned<typeof recommendForUser>>,
    SameKeys<z.output<typeof SimilarItems>, Returned<typeof similarItems>>,
    SameKeys<z.output<typeof ComplementItems>, Returned<typeof complementItems>>,
    SameKeys<z.output<typeof ImageSearchResults>, Returned<typeof searchByImage>>,
    SameKeys<z.output<typeof TrendingItems>, Returned<typeof trendingItems>>,
    SameKeys<z.output<typeof RecommendationItemSchema>, RecommendationItem>,
    SameKeys<z.output<typeof ItemDetails>, Returned<typeof itemDetails>>,
    SameKeys<z.output<typeof UserHistorySchema>, Returned<typeof userHistory>>,
    SameKeys<z.output<typeof HistoryItemSchema>, HistoryItem>,
    SameKeys<z.output<typeof UserInterestsSchema>, Returned<typeof userInterests>>,
    SameKeys<z.output<typeof InterestSchema>, Returned<typeof userInterests>['interests'][number]>,
    SameKeys<z.output<typeof InterestEditedSchema>, Returned<typeof editInterest>>,
    Same<z.output<typeof UserHistorySchema>['kind'], Returned<typeof userHistory>['kind']>,
    SameKeys<z.output<typeof EventResultSchema>, Returned<typeof recordEvents>[number]>,
    Same<z.output<typeof EventResultSchema>['status'], Returned<typeof recordEvents>[number]['status']>,
    Same<z.output<typeof ReasonSchema>['kind'], Reason['kind']>,
    SameKeys<z.output<typeof RuleList>, Returned<typeof listRules>>,
    Same<z.output<typeof RuleSchema>['kind'], ReturnType<typeof ruleView>['kind']>,
    SameKeys<z.output<typeof RuleDeleted>, Returned<typeof deleteRule>>,
    SameKeys<z.output<typeof MetricsReportSchema>, Returned<typeof metricsReport>>,
  ]
>;

type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 500 | 503;

const ERROR_RESPONSES: Record<ErrorStatus, { name: string; description: string }> = {
  400: {
    name: 'BadRequest',
    description:
      'The request is malformed (see code: invalid_query, unknown_category, unknown_placement, invalid_json, invalid_utf8, invalid_user_id, invalid_item_id, ...)',
  },
  401: { name: 'Unauthorized', description: 'No valid credentials' },
  403: { name: 'Forbidden', description: 'The caller may not act for this user' },
  404: {
    name: 'NotFound',
    description: 'Unknown item (code unknown_item), interest (unknown_interest) or rule, or no such route',
  },
  409: {
    name: 'Conflict',
    description:
      'The item exists but has no vector yet (code item_not_ready), or a rule write met a newer version (version_conflict) or the limit of rules (too_many_rules)',
  },
  413: { name: 'PayloadTooLarge', description: 'The body is over the limit (code payload_too_large)' },
  415: { name: 'UnsupportedMediaType', description: 'Wrong Content-Type (code unsupported_media_type)' },
  422: {
    name: 'InvalidImage',
    description: `The body is not an image that can be embedded; code is one of ${INVALID_IMAGE_CODES.join(', ')}`,
  },
  500: { name: 'InternalError', description: 'Something failed; requestId identifies it in the logs' },
  503: {
    name: 'ServiceUnavailable',
    description:
      'Contention on one profile (code contention, retry after 1 s: event ids make it safe) or a timeout',
  },
};

type QuerySchema =
  | typeof ListQuerySchema
  | typeof HistoryQuerySchema
  | typeof SimilarQuerySchema
  | typeof ComplementsQuerySchema
  | typeof SearchQuerySchema
  | typeof TrendingQuerySchema
  | typeof DeleteRuleQuerySchema
  | typeof MetricsQuerySchema;

interface OperationSpec {
  operationId: string;
  description: string;
  query?: QuerySchema;
  body?: 'events' | 'image' | 'rule' | 'ruleUpdate' | 'interestPatch';
  success: { status: 200 | 201 | 202; description: string; schema: z.ZodType };
  errors: ErrorStatus[];
}

const eventsBody = (live: boolean): Omit<OperationSpec, 'operationId'> => ({
  description: live
    ? 'Likes, purchases, views, dislikes, hides... of one or more users, each with a client-chosen eventId ' +
      '(retries are idempotent). Events older than 30 days are rejected here.'
    : 'Historical events of many users, up to the event TTL (90 days by default) old. Signed with SigV4.',
  body: 'events',
  success: {
    status: 202,
    description: 'Per-event results: accepted, duplicate or rejected with a code',
    schema: EventResults,
  },
  errors: [400, 401, 403, 413, 415, 500, 503],
});

/** What the route table does not say about each route; a route without an entry fails generation. */
const OPERATIONS: Readonly<Record<string, OperationSpec>> = {
  'POST /events': { operationId: 'postEvents', ...eventsBody(true) },
  'POST /events/import': { operationId: 'importEvents', ...eventsBody(false) },
  'DELETE /users/{userId}': {
    operationId: 'eraseUser',
    description: "Deletes the user's interest profile and every stored event of theirs.",
    success: { status: 200, description: 'Erased', schema: UserErased },
    errors: [401, 403, 500],
  },
  'GET /users/{userId}/recommendations': {
    operationId: 'getRecommendations',
    description:
      'Items for this user, each with a reason. A user without history gets popular items (strategy popular).',
    query: ListQuerySchema,
    success: { status: 200, description: 'Recommendations, best first', schema: UserRecommendations },
    errors: [400, 401, 403, 500],
  },
  'GET /users/{userId}/history': {
    operationId: 'getHistory',
    description:
      'Recently viewed (kind=viewed: view and click events) or bought (kind=purchased: "buy again") items, newest first, each once at its latest event, with the same item views as the lists. Up to 100 of each are kept.',
    query: HistoryQuerySchema,
    success: { status: 200, description: 'The history, newest first', schema: UserHistorySchema },
    errors: [400, 401, 403, 500],
  },
  'GET /users/{userId}/interests': {
    operationId: 'getInterests',
    description:
      "What the recommender believes the user likes: up to 4 interests (centroids in image space), heaviest first, each with a stable id, its weight, a label (its members' most common category) and its most representative items (closest to the centroid). A user sees only their own.",
    success: { status: 200, description: 'The interests', schema: UserInterestsSchema },
    errors: [400, 401, 403, 500],
  },
  'PATCH /users/{userId}/interests/{interestId}': {
    operationId: 'editInterest',
    description:
      "Mutes an interest for some hours (it retrieves nothing for the personal list until then), boosts it (it weighs twice), or resets both. The edit is an event in the user's log: a rebuild from the raw events replays it, and erasing the user removes it. 404 unknown_interest for an id the profile does not hold (merged into an older interest, or forgotten).",
    body: 'interestPatch',
    success: { status: 200, description: 'The edit', schema: InterestEditedSchema },
    errors: [400, 401, 403, 404, 413, 415, 500, 503],
  },
  'DELETE /users/{userId}/interests/{interestId}': {
    operationId: 'forgetInterest',
    description:
      "Forgets an interest: it is removed, and its member items no longer shape any taste (liking one again does not rebuild it); new likes can grow a new interest, with a new id. An event in the user's log, like a mute.",
    success: { status: 200, description: 'The edit (action forget)', schema: InterestEditedSchema },
    errors: [401, 403, 404, 500, 503],
  },
  'GET /items/{itemId}': {
    operationId: 'getItem',
    description: 'Whether an uploaded image became an item (status ready) or was rejected, and its metadata.',
    success: { status: 200, description: 'The item', schema: ItemDetails },
    errors: [401, 404, 500],
  },
  'GET /items/{itemId}/similar': {
    operationId: 'getSimilarItems',
    description: 'Items that look like this one, most similar first ("more like this").',
    query: SimilarQuerySchema,
    success: { status: 200, description: 'Similar items', schema: SimilarItems },
    errors: [400, 401, 404, 409, 500],
  },
  'GET /items/{itemId}/complements': {
    operationId: 'getComplements',
    description:
      '"Goes with this": items bought or put in a cart together with this one (reason co_purchased), best first; ' +
      'when those are too few, items of the categories most often bought with its category, closest to what ' +
      "those buyers chose there (reason bought_with_category). Never the item itself nor a near-duplicate (cosine above 0.95); other categories than the item's unless sameCategory=true. One page (no nextToken).",
    query: ComplementsQuerySchema,
    success: { status: 200, description: 'Complements, co-purchased first', schema: ComplementItems },
    errors: [400, 401, 404, 409, 500],
  },
  'POST /search': {
    operationId: 'searchByImage',
    description: 'Items that look like the uploaded image. Send the image bytes as the body.',
    query: SearchQuerySchema,
    body: 'image',
    success: { status: 200, description: 'Items, most similar first', schema: ImageSearchResults },
    errors: [400, 401, 413, 415, 422, 500],
  },
  'GET /trending': {
    operationId: 'getTrending',
    description:
      "Items whose engagement is rising fastest, overall or in the categories given: each item's last day or so (1-day half-life) against its 30-day pace, plus a floor. An item trends once its recent engagement weighs at least 3 (6 clicks, or one add to cart) and runs above that pace; the list may be short or empty. Reused per instance like popularity (30 s by default); recorded as an impression. No pages.",
    query: TrendingQuerySchema,
    success: { status: 200, description: 'Trending items, fastest rising first', schema: TrendingItems },
    errors: [400, 401, 500],
  },
  'GET /rules': {
    operationId: 'listRules',
    description:
      "Every merchandising rule (active, scheduled and ended), oldest first, with the set's version.",
    success: { status: 200, description: 'The rules', schema: RuleList },
    errors: [401, 403, 500],
  },
  'POST /rules': {
    operationId: 'createRule',
    description:
      'A new rule, served by every instance within 5 s (no deploy). Codes: invalid_rule, unknown_placement, too_many_rules (409, 100 at most).',
    body: 'rule',
    success: { status: 201, description: 'The rule as stored (version 1)', schema: RuleSchema },
    errors: [400, 401, 403, 409, 413, 415, 500],
  },
  'GET /rules/{ruleId}': {
    operationId: 'getRule',
    description: 'One rule (unknown_rule: 404).',
    success: { status: 200, description: 'The rule', schema: RuleSchema },
    errors: [401, 403, 404, 500],
  },
  'PUT /rules/{ruleId}': {
    operationId: 'updateRule',
    description:
      'Replaces the rule with a new definition, if version is still the stored one (else 409 version_conflict, with the stored version). To end a rule now, set endsAt.',
    body: 'ruleUpdate',
    success: { status: 200, description: 'The rule as stored (its version +1)', schema: RuleSchema },
    errors: [400, 401, 403, 404, 409, 413, 415, 500],
  },
  'DELETE /rules/{ruleId}': {
    operationId: 'deleteRule',
    description:
      'Deletes the rule; with ?version=N only if N is the stored version (else 409 version_conflict).',
    query: DeleteRuleQuerySchema,
    success: { status: 200, description: 'Deleted', schema: RuleDeleted },
    errors: [400, 401, 403, 404, 409, 500],
  },
  'GET /admin/metrics': {
    operationId: 'getMetrics',
    description:
      "What the recommendations earn (issue 25), from pre-aggregated daily rows: per placement and item source (organic, exploration, pinned, promoted), and per strategy, the items shown, clicks, adds to cart, purchases and revenue (the price at purchase) of the events that named their list (context.recommendationId); click-through, add-to-cart and purchase rates and revenue per impression, each with a 95% interval (delta method, a user-day as the unit); per day and placement for charts; and the period's organic (no list named) and unattributed (a list the user was not served, or an item not in it) events. At most 92 days; default the last 7. Codes: invalid_query, unknown_placement.",
    query: MetricsQuerySchema,
    success: { status: 200, description: 'The metrics of the period', schema: MetricsReportSchema },
    errors: [400, 401, 403, 500],
  },
};

const PARAMETER_DESCRIPTIONS: Readonly<Record<string, string>> = {
  userId: "The shop's user id",
  itemId: 'The image file name without its extension: catalogue/shoes/SKU-123.jpg is item SKU-123',
  limit: "How many items to return (default: the placement's limit, else 10)",
  interestId: 'An interest id from GET /users/{userId}/interests (t and 11 hex digits)',
  ruleId: 'The id the API gave the rule when it was created (r- and 22 characters)',
  version: 'Delete only this version of the rule (else 409 version_conflict)',
  category:
    'Only items of these categories (repeat the parameter for several, up to 20: ?category=shoes&category=bags); a category the catalogue does not have is a 400 (unknown_category)',
  tag: 'Only items with these tags (repeat for several, up to 20); see tagMatch',
  tagMatch: 'any (default): items with at least one of the tags; all: items with every one of them',
  minPrice: 'Only items priced at least this (items without a price are left out)',
  maxPrice: 'Only items priced at most this (items without a price are left out)',
  maxPriceRatio:
    '"Like this, but cheaper": only items priced at most this times the item\'s price (0.8: at least 20% cheaper); an item without a price is a 400 (no_reference_price)',
  strict:
    "true (default, or the placement's setting): only items that match the filters, even if fewer than limit; false: a short list is filled from the best other items, each with reason outside_filters",
  nextToken:
    "The previous page's nextToken: the next page continues the same ranking and never repeats an item of earlier pages. The other parameters must be the same (limit may change); a token that is altered or not one this API issued is a 400 invalid_token, another user's foreign_token, expired expired_token, erased (with the user) or past the impressions' TTL token_not_found, and one for another route, item, image, filter, exclusion, strictness or placement token_mismatch",
  excludeIds:
    'Items to leave out of this list (repeat the parameter for each id, e.g. what the page already shows): at most 50 ids and 4096 bytes, else a 400 (too_many_exclusions)',
  kind: 'viewed: items the user viewed or clicked; purchased: items they bought',
  exclude: 'seen: leave out items the user has already interacted with',
  from: 'First day of the period (UTC), YYYY-MM-DD; default 6 days before to',
  to: 'Last day of the period (UTC), YYYY-MM-DD; default today (at most 92 days from from)',
  source: 'Only items placed by this source: organic (ranked), exploration, pinned or promoted (rules)',
  placement:
    "Where the list is shown: one of the stack's placements (default home, product, category, cart, checkout, account, search, email; another is a 400, unknown_placement), whose defaults (limit, MMR lambda) apply; recorded with the list's impression and echoed back. Default: the strategy's name",
};

const PATH_PARAMETER_SCHEMAS: Readonly<Record<string, z.ZodType>> = {
  userId: TrackedEventSchema.shape.userId,
  itemId: TrackedEventSchema.shape.itemId,
  ruleId: z.string().regex(/^r-[A-Za-z0-9_-]{22}$/),
  interestId: z.string().regex(INTEREST_ID_PATTERN),
};

const SECURITY: Readonly<Record<RouteAuth, { scheme: string; note: string }>> = {
  user: {
    scheme: 'bearerJwt',
    note: "Auth: a JWT whose user claim is the user in the path or in every event (or an admin's).",
  },
  catalogue: { scheme: 'bearerJwt', note: 'Auth: any valid JWT.' },
  admin: {
    scheme: 'bearerJwt',
    note: 'Auth: an admin JWT (the admin scope, lookalike/admin by default, or the admin group); other tokens get 403.',
  },
  iam: { scheme: 'sigv4', note: 'Auth: AWS Signature Version 4 by an IAM principal the stack trusts.' },
};

const REFS = { uri: (id: string) => `#/components/schemas/${id}` } as const;
const toJsonSchema = (schema: z.ZodType): JsonObject => {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io: 'input' });
  return rest;
};
/** A registered schema as a $ref, anything else inline. */
const schemaOrRef = (schema: z.ZodType): JsonObject => {
  const id = components.get(schema)?.id;
  return id ? { $ref: REFS.uri(id) } : toJsonSchema(schema);
};

function parameters(route: Route, query: QuerySchema | undefined): JsonObject[] {
  const pathNames = [...route.path.matchAll(/\{([^{}]+)\}/g)].map((match) => match[1] ?? '');
  const inPath = pathNames.map((name) => {
    const schema = PATH_PARAMETER_SCHEMAS[name];
    if (!schema) throw new Error(`no schema for path parameter ${name} of ${routeKey(route)}`);
    return {
      name,
      in: 'path',
      required: true,
      description: PARAMETER_DESCRIPTIONS[name],
      schema: toJsonSchema(schema),
    };
  });
  if (!query) return inPath;
  const object = toJsonSchema(query) as { properties?: Record<string, JsonObject>; required?: string[] };
  // A query schema's own description of a parameter (history's limit, say) wins over the shared one.
  const inQuery = Object.entries(object.properties ?? {}).map(([name, { description, ...schema }]) => {
    const text = (description as string | undefined) ?? PARAMETER_DESCRIPTIONS[name];
    return {
      name,
      in: 'query',
      required: object.required?.includes(name) ?? false,
      ...(text ? { description: text } : {}),
      schema,
    };
  });
  return [...inPath, ...inQuery];
}

function requestBody(kind: OperationSpec['body']): JsonObject | undefined {
  if (kind === 'events') {
    return {
      required: true,
      description: `At most ${MAX_JSON_BODY_BYTES} bytes of JSON.`,
      content: { 'application/json': { schema: schemaOrRef(EventBatch) } },
    };
  }
  if (kind === 'rule' || kind === 'ruleUpdate') {
    return {
      required: true,
      description: `At most ${MAX_RULE_BODY_BYTES} bytes of JSON.`,
      content: { 'application/json': { schema: schemaOrRef(kind === 'rule' ? RuleDefinition : RuleUpdate) } },
    };
  }
  if (kind === 'interestPatch') {
    return {
      required: true,
      description: 'At most 1024 bytes of JSON.',
      content: { 'application/json': { schema: schemaOrRef(InterestPatch) } },
    };
  }
  if (kind === 'image') {
    return {
      required: true,
      description:
        `The image file itself (JPEG, PNG, WebP, GIF, AVIF or TIFF), at most ${MAX_IMAGE_BODY_BYTES} bytes ` +
        '(API Gateway base64-encodes it and Lambda takes 6 MB). Content-Type must be the image type.',
      content: { 'image/*': { schema: { type: 'string', contentMediaType: 'image/*' } } },
      'x-max-bytes': MAX_IMAGE_BODY_BYTES,
    };
  }
  return undefined;
}

function operation(route: Route): JsonObject {
  const key = routeKey(route);
  const spec = OPERATIONS[key];
  if (!spec)
    throw new Error(`infra/local/openapi.ts has no operation for ${key}: describe the new route there`);
  const security = SECURITY[route.auth];
  const body = requestBody(spec.body);
  const errors = spec.errors.map((status) => [
    String(status),
    { $ref: `#/components/responses/${ERROR_RESPONSES[status].name}` },
  ]);
  return {
    operationId: spec.operationId,
    summary: route.summary,
    description: `${spec.description}\n\n${security.note}`,
    tags: [route.function],
    security: [{ [security.scheme]: [] }],
    ...(spec.query || route.path.includes('{') ? { parameters: parameters(route, spec.query) } : {}),
    ...(body ? { requestBody: body } : {}),
    responses: {
      [String(spec.success.status)]: {
        description: spec.success.description,
        content: { 'application/json': { schema: schemaOrRef(spec.success.schema) } },
      },
      ...Object.fromEntries(errors),
    },
  };
}

/** The whole document; deterministic, so the checked-in copy can be compared with it. */
export function generateOpenApi(): JsonObject {
  const paths: Record<string, Record<string, JsonObject>> = {};
  for (const route of ROUTES) {
    paths[route.path] ??= {};
    (paths[route.path] as Record<string, JsonObject>)[route.method.toLowerCase()] = operation(route);
  }
  const { schemas } = z.toJSONSchema(components, { io: 'input', ...REFS }) as {
    schemas: Record<string, JsonObject>;
  };
  // The ids live in the components map; `$id` and `$schema` inside an OpenAPI document are noise.
  for (const schema of Object.values(schemas)) {
    delete schema.$id;
    delete schema.$schema;
  }
  const errorResponses = Object.values(ERROR_RESPONSES).map(({ name, description }) => [
    name,
    { description, content: { 'application/json': { schema: schemaOrRef(ErrorSchema) } } },
  ]);
  return {
    openapi: '3.1.0',
    info: {
      title: 'Lookalike',
      version,
      description:
        'Visual recommendations: images uploaded to the catalogue bucket become items; user events shape ' +
        'interest profiles; these routes return recommendations, similar items and image search results. ' +
        "Generated from functions/contract/routes.ts and the handlers' zod schemas. Locally (npm start), " +
        'GET /local/token?userId=<id> issues a bearer token for a user.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [
      { url: '/', description: 'This API (the deployed stage URL, or http://127.0.0.1:3000 locally)' },
    ],
    tags: [
      { name: 'track', description: 'User events and erasure' },
      { name: 'recommend', description: 'Recommendations, similar items, image search, item status' },
    ],
    paths,
    components: {
      schemas,
      responses: Object.fromEntries(errorResponses),
      securitySchemes: {
        bearerJwt: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'A JWT from the identity provider the stack trusts (API Gateway JWT authorizer)',
        },
        sigv4: {
          type: 'apiKey',
          in: 'header',
          name: 'Authorization',
          description: 'AWS Signature Version 4 (API Gateway IAM authorization), for trusted back ends',
          'x-amazon-apigateway-authtype': 'awsSigv4',
        },
      },
    },
  };
}

/** `GET /openapi.json` on the local server. */
export function openApiRoute(): ExtraRoute {
  let body: string | undefined;
  return {
    method: 'GET',
    path: '/openapi.json',
    handler: async () => {
      body ??= JSON.stringify(generateOpenApi());
      return {
        statusCode: 200,
        headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-cache' },
        body,
      };
    },
  };
}
