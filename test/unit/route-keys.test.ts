import { ROUTES, type RouteKey, routeKey } from '../../functions/contract/routes';

describe('RouteKey', () => {
  it("is exactly the keys of a function's routes in the table", () => {
    const track: RouteKey<'track'>[] = [
      'POST /events',
      'POST /events/import',
      'DELETE /users/{userId}',
      'PATCH /users/{userId}/interests/{interestId}',
      'DELETE /users/{userId}/interests/{interestId}',
      'GET /rules',
      'POST /rules',
      'GET /rules/{ruleId}',
      'PUT /rules/{ruleId}',
      'DELETE /rules/{ruleId}',
      'GET /admin/metrics',
    ];
    // @ts-expect-error a recommend route is not one the track handler can dispatch on
    const foreign: RouteKey<'track'> = 'POST /search';
    // @ts-expect-error nor is a route the table does not have
    const missing: RouteKey = 'GET /users';

    expect(ROUTES.filter((route) => route.function === 'track').map(routeKey)).toEqual(track);
    expect(ROUTES.map(routeKey)).toContain(foreign);
    expect(ROUTES.map(routeKey)).not.toContain(missing);
  });
});
