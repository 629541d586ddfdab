/**
 * The HTTP API, defined once: the CDK stack creates these routes on API Gateway and the local server
 * serves the same table through the same handlers, so the local API cannot drift from the deployed one.
 */
export type RouteFunction = 'track' | 'recommend';

/**
 * user: a JWT whose user claim must match the user in the path or in every event (or an admin);
 * catalogue: any valid JWT; admin: a JWT with the admin scope or group (IdentityConfig), others get
 * 403; iam: signed by a trusted back end (SigV4).
 */
export type RouteAuth = 'user' | 'catalogue' | 'admin' | 'iam';

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** API Gateway path syntax: {name} is one path segment. */
  path: string;
  function: RouteFunction;
  auth: RouteAuth;
  summary: string;
}

export const ROUTES = [
  {
    method: 'POST',
    path: '/events',
    function: 'track',
    auth: 'user',
    summary: 'Record a batch of 1..100 user events',
  },
  {
    method: 'POST',
    path: '/events/import',
    function: 'track',
    auth: 'iam',
    summary: 'Bulk-import historical events of many users (trusted back ends)',
  },
  {
    method: 'DELETE',
    path: '/users/{userId}',
    function: 'track',
    auth: 'user',
    summary: "Erase a user's profile and events",
  },
  {
    method: 'GET',
    path: '/users/{userId}/recommendations',
    function: 'recommend',
    auth: 'user',
    summary: 'Top-N items for a user',
  },
  {
    method: 'GET',
    path: '/users/{userId}/history',
    function: 'recommend',
    auth: 'user',
    summary: "A user's recently viewed or bought items, newest first",
  },
  {
    method: 'GET',
    path: '/users/{userId}/interests',
    function: 'recommend',
    auth: 'user',
    summary: "A user's interests (tastes) as the recommender sees them, each with its representative items",
  },
  // Edits are events in the user's log: served by track, the API's writer.
  {
    method: 'PATCH',
    path: '/users/{userId}/interests/{interestId}',
    function: 'track',
    auth: 'user',
    summary: 'Mute an interest for some hours, boost it, or reset both',
  },
  {
    method: 'DELETE',
    path: '/users/{userId}/interests/{interestId}',
    function: 'track',
    auth: 'user',
    summary: 'Forget an interest: its items no longer shape the tastes',
  },
  {
    method: 'GET',
    path: '/items/{itemId}',
    function: 'recommend',
    auth: 'catalogue',
    summary: "An item's metadata and status",
  },
  {
    method: 'GET',
    path: '/items/{itemId}/similar',
    function: 'recommend',
    auth: 'catalogue',
    summary: 'Visually similar items',
  },
  {
    method: 'GET',
    path: '/items/{itemId}/complements',
    function: 'recommend',
    auth: 'catalogue',
    summary: 'Items that go with this one (bought together)',
  },
  {
    method: 'POST',
    path: '/search',
    function: 'recommend',
    auth: 'catalogue',
    summary: 'Items that look like an uploaded image',
  },
  // Not under /items/, where `trending` would be taken for an item id.
  {
    method: 'GET',
    path: '/trending',
    function: 'recommend',
    auth: 'catalogue',
    summary: 'Items whose engagement is rising fastest',
  },
  // Merchandising rules (functions/contract/rules.ts): served by track, the API's writer.
  { method: 'GET', path: '/rules', function: 'track', auth: 'admin', summary: 'Every merchandising rule' },
  {
    method: 'POST',
    path: '/rules',
    function: 'track',
    auth: 'admin',
    summary: 'Create a merchandising rule (boost, bury, pin or promote)',
  },
  { method: 'GET', path: '/rules/{ruleId}', function: 'track', auth: 'admin', summary: 'One rule' },
  {
    method: 'PUT',
    path: '/rules/{ruleId}',
    function: 'track',
    auth: 'admin',
    summary: 'Replace a rule (409 version_conflict unless `version` is the stored one)',
  },
  { method: 'DELETE', path: '/rules/{ruleId}', function: 'track', auth: 'admin', summary: 'Delete a rule' },
  // Attribution (issue 25): what the recommendations earn, from the pre-aggregated daily rows.
  {
    method: 'GET',
    path: '/admin/metrics',
    function: 'track',
    auth: 'admin',
    summary: 'Impressions, clicks, conversions and revenue per placement and source, with 95% intervals',
  },
] as const satisfies readonly Route[];

/** `routeKey` as API Gateway HTTP APIs write it into events, e.g. "GET /items/{itemId}". */
export const routeKey = (route: Pick<Route, 'method' | 'path'>) => `${route.method} ${route.path}`;

type KeyOf<R> = R extends { method: infer M extends string; path: infer P extends string }
  ? `${M} ${P}`
  : never;

/**
 * The route keys of one function's routes, e.g. `RouteKey<'track'>`: its handler gives an action for
 * each (functions/http/router.ts), so an action for a route the table does not have, or a route
 * without one, fails to compile.
 */
export type RouteKey<F extends RouteFunction = RouteFunction> = KeyOf<
  Extract<(typeof ROUTES)[number], { function: F }>
>;

/** Request bodies above this are refused with 413 before a handler parses them. */
export const MAX_JSON_BODY_BYTES = 1024 * 1024;
/** API Gateway base64-encodes binary bodies and Lambda takes 6 MB per request: about 4 MB of image. */
export const MAX_IMAGE_BODY_BYTES = 4 * 1024 * 1024;
