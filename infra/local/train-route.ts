/**
 * `POST /local/train`: the local stand-in for an operator invoking the trainer function (deployed:
 * `aws lambda invoke` with `{ "trigger": "manual" }`). Only on the local server, only with an admin
 * token of the local issuer (`npm run token -- <id> --admin`); `npm run train` calls it. One run at a
 * time per process: a second call while one runs answers 409 `training_in_progress`.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { TrainingRecord } from '../../functions/app/train-similarity';
import { resolveCaller } from '../../functions/http/identity';
import { type Authorize, withAuthorizer } from './api-gateway';
import type { ExtraRoute } from './api-server';

/** A run can take minutes on a big catalogue: the function's own limit, not API Gateway's 30 s. */
const TRAIN_TIMEOUT_MS = 900_000;

const json = (statusCode: number, body: unknown) => ({
  statusCode,
  headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
  body: JSON.stringify(body),
});

export function localTrainRoute(authorize: Authorize, train: () => Promise<TrainingRecord>): ExtraRoute {
  let running = false;
  const route = { method: 'POST' as const, path: '/local/train' };
  return {
    ...route,
    timeoutMs: TRAIN_TIMEOUT_MS,
    handler: async (event: APIGatewayProxyEventV2) => {
      const requestId = event.requestContext.requestId;
      // Authorized as a user route is: a bearer token of the local issuer.
      const auth = await authorize(event, {
        ...route,
        auth: 'user',
        function: 'recommend',
        summary: 'Run the learned-similarity trainer once (local only)',
      });
      if (!auth.allow)
        return json(401, {
          code: 'unauthorized',
          message: 'a token of the local issuer is required',
          requestId,
        });
      const caller = auth.authorizer ? resolveCaller(withAuthorizer(event, auth.authorizer)) : undefined;
      if (caller?.kind !== 'user' || !caller.admin)
        return json(403, {
          code: 'forbidden',
          message: 'training is for admins: `npm run token -- <id> --admin`',
          requestId,
        });
      if (running)
        return json(409, {
          code: 'training_in_progress',
          message: 'a training run is in progress; try again when it ends',
          requestId,
        });
      running = true;
      try {
        return json(200, await train());
      } finally {
        running = false;
      }
    },
  };
}
