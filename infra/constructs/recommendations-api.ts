import { Annotations, CfnOutput, Duration, Stack, Validations } from 'aws-cdk-lib';
import {
  CorsHttpMethod,
  HttpApi,
  HttpMethod,
  HttpRoute,
  HttpRouteKey,
  HttpStage,
  type IHttpRouteAuthorizer,
  LogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer, HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { type IUserPool, Mfa, UserPool, UserPoolClient } from 'aws-cdk-lib/aws-cognito';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV, type ServingBackend } from '../../functions/contract/environment';
import { type ExplorationConfigInput, ExplorationConfigSchema } from '../../functions/contract/exploration';
import {
  DEFAULT_PLACEMENTS,
  type PlacementsConfig,
  type PlacementsConfigInput,
  PlacementsConfigSchema,
  unknownPlacements,
} from '../../functions/contract/placements';
import { ROUTES, type RouteFunction } from '../../functions/contract/routes';
import { CATALOGUE_PREFIX, INDEX_PREFIX } from '../../functions/contract/storage';
import { deadLetterQueue } from './dead-letter-queue';
import type { InterestTracking } from './interest-tracking';
import { LookalikeFunction } from './lookalike-function';
import type { ModelLayers } from './model-layers';
import {
  capacityWarnings,
  exactIndexCeiling,
  MIN_RECOMMEND_MEMORY_MB,
  recommendMemoryMb,
} from './recommend-capacity';

export type { ServingBackend };

export interface JwtSettings {
  /** Token issuer URL (e.g. your IdP's). */
  readonly issuer: string;
  /** Accepted audiences (client ids). */
  readonly audience: string[];
}

export interface RecommendationsApiProps {
  readonly itemsTable: ITableV2;
  readonly bucket: IBucket;
  readonly layers: ModelLayers;
  readonly tracking: InterestTracking;
  /** @default 'exact' */
  readonly backend?: ServingBackend;
  /** An existing IdP; when absent, a Cognito user pool is created and used. @default a new user pool */
  readonly jwt?: JwtSettings;
  /** JWT claim holding the shop's user id. @default 'sub' */
  readonly userClaim?: string;
  /** Browser origins allowed to call the API. @default none (no CORS) */
  readonly allowedOrigins?: string[];
  /** Steady-state requests per second across the API. @default 200 */
  readonly throttleRateLimit?: number;
  /** @default 400 */
  readonly throttleBurstLimit?: number;
  /**
   * Items the catalogue is expected to hold. With the `exact` backend it sizes the recommend
   * function's memory (see recommendMemorySize) and warns at synth when the in-memory index would
   * pass its ceiling (cold start over 2 s, or memory over 80% of the function's): README, "Capacity".
   * @default unknown: 2048 MB and no warning
   */
  readonly expectedCatalogueItems?: number;
  /**
   * @default with `exact`, measured MB per item x expectedCatalogueItems x 1.5 + 130 MB, in whole
   * 64 MB, from 2048 to 10,240 (infra/constructs/recommend-capacity.ts) when it is given; else 2048. The exact index
   * lives in memory, and more memory buys more CPU.
   */
  readonly recommendMemorySize?: number;
  /**
   * Exploration slots for new items, per placement too; checked at synth. `{ share: 0 }` turns it off.
   * @default DEFAULT_EXPLORATION (functions/contract/exploration.ts)
   */
  readonly exploration?: ExplorationConfigInput;
  /**
   * The placements lists may name (`?placement=`), each with its defaults (`limit`, `mmrLambda`); a
   * list naming another is a 400 (`unknown_placement`). Checked at synth, with the exploration
   * config's placements. @default DEFAULT_PLACEMENTS (functions/contract/placements.ts)
   */
  readonly placements?: PlacementsConfigInput;
  /**
   * Rotation: items of a user's last `lists` lists are demoted by `weight` (scores are about 1 at
   * the top). @default off
   */
  readonly rotation?: { readonly lists: number; readonly weight?: number };
}

/** The HTTP API from the route table, its authorizers, the recommend and compact functions. */
export class RecommendationsApi extends Construct {
  public readonly api: HttpApi;
  public readonly stage: HttpStage;
  public readonly recommendFunction: LookalikeFunction;
  public readonly compactFunction: LookalikeFunction;
  /** Stream batches the compactor failed on after its retries. */
  public readonly compactDeadLetters: Queue;
  public readonly userPool?: IUserPool;
  public readonly accessLogs: LogGroup;

  constructor(scope: Construct, id: string, props: RecommendationsApiProps) {
    super(scope, id);
    const backend = props.backend ?? 'exact';
    if (props.jwt && (!props.jwt.issuer.startsWith('https://') || props.jwt.audience.length === 0)) {
      throw new Error(
        'RecommendationsApi: jwt.issuer must be an https URL and jwt.audience must name at least one client',
      );
    }
    const { active } = props.layers;
    const manifest = active.manifest;
    const issues = (error: { issues: Array<{ path: PropertyKey[]; message: string }> }) =>
      error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`).join('; ');
    let placements: PlacementsConfig = DEFAULT_PLACEMENTS;
    if (props.placements !== undefined) {
      const checked = PlacementsConfigSchema.safeParse(props.placements);
      if (!checked.success) throw new Error(`RecommendationsApi: placements: ${issues(checked.error)}`);
      placements = checked.data;
    }
    if (props.exploration !== undefined) {
      const checked = ExplorationConfigSchema.safeParse(props.exploration);
      if (!checked.success) throw new Error(`RecommendationsApi: exploration: ${issues(checked.error)}`);
      const unknown = unknownPlacements(Object.keys(checked.data.placements ?? {}), placements);
      if (unknown.length > 0)
        throw new Error(
          `RecommendationsApi: exploration names placements the stack does not accept: ${unknown.join(', ')} ` +
            `(placements: ${Object.keys(placements).join(', ')})`,
        );
    }
    const shared = {
      ...props.tracking.profileEnvironment,
      [ENV.SERVING_BACKEND]: backend,
      ...(props.userClaim ? { [ENV.USER_CLAIM]: props.userClaim } : {}),
    };

    const expectedItems = props.expectedCatalogueItems;
    if (expectedItems !== undefined && !(Number.isSafeInteger(expectedItems) && expectedItems >= 1))
      throw new Error('RecommendationsApi: expectedCatalogueItems must be a whole number of at least 1');
    const dim = manifest.output.dim;
    // Sized from the catalogue only when the stack is told its size and the index is in memory.
    const sizedFor = backend === 'exact' ? expectedItems : undefined;
    const recommendMemorySize =
      props.recommendMemorySize ??
      (sizedFor !== undefined ? recommendMemoryMb(sizedFor, dim) : MIN_RECOMMEND_MEMORY_MB);
    if (sizedFor !== undefined) {
      const reasons = capacityWarnings(sizedFor, dim, recommendMemorySize);
      if (reasons.length > 0) {
        Annotations.of(this).addWarningV2(
          '@lookalike/exact-index-capacity',
          `expectedCatalogueItems ${sizedFor.toLocaleString('en-US')} at ${dim} dimensions is past what ` +
            `the exact serving index holds in one function: ${reasons.join('; ')}. Up to about ` +
            `${exactIndexCeiling(dim, recommendMemorySize).toLocaleString('en-US')} items fit in ` +
            `${recommendMemorySize} MB; serve this catalogue with servingBackend 'dynamodb-vector' ` +
            `(README, "Capacity").`,
        );
      }
    }

    const { rotation } = props;
    if (rotation && !(Number.isInteger(rotation.lists) && rotation.lists >= 0 && rotation.lists <= 20))
      throw new Error('RecommendationsApi: rotation.lists must be a whole number from 0 to 20');
    if (rotation?.weight !== undefined && !(rotation.weight >= 0 && rotation.weight <= 2))
      throw new Error('RecommendationsApi: rotation.weight must be from 0 to 2');
    const recommendEnvironment = {
      ...(props.exploration !== undefined ? { [ENV.EXPLORATION]: JSON.stringify(props.exploration) } : {}),
      ...(props.placements !== undefined ? { [ENV.PLACEMENTS]: JSON.stringify(placements) } : {}),
      ...(rotation ? { [ENV.ROTATION_LISTS]: String(rotation.lists) } : {}),
      ...(rotation?.weight !== undefined ? { [ENV.ROTATION_WEIGHT]: String(rotation.weight) } : {}),
    };
    // Rules (served by track) may name only the placements recommend accepts.
    if (props.placements !== undefined)
      props.tracking.trackFunction.function.addEnvironment(ENV.PLACEMENTS, JSON.stringify(placements));
    this.recommendFunction = new LookalikeFunction(this, 'Recommend', {
      name: 'recommend',
      // Image search embeds with the active model: its layer, and its manifest when not the model layer's.
      layers: [props.layers.runtimeLayer, active.layer],
      memorySize: recommendMemorySize,
      timeout: Duration.seconds(29),
      environment: {
        ...shared,
        ...recommendEnvironment,
        ...(active.layer === props.layers.modelLayer
          ? {}
          : { [ENV.LOOKALIKE_MODEL_MANIFEST]: active.manifestPathInLambda }),
      },
    })
      .useTable(
        props.itemsTable,
        ENV.ITEMS_TABLE,
        backend === 'dynamodb-vector'
          ? ['GetItem', 'BatchGetItem', 'SearchVectors']
          : ['GetItem', 'BatchGetItem'],
        { indexActions: backend === 'dynamodb-vector' ? ['Query', 'SearchVectors'] : ['Query'] },
      )
      .useTable(props.tracking.profilesTable, ENV.PROFILES_TABLE, ['GetItem'])
      // A profile of another space (after a model switch) is refolded on read from the user's raw
      // events; recommend still writes no profile (the user's next event persists the refold).
      .useTable(props.tracking.eventsTable, ENV.EVENTS_TABLE, ['Query'])
      .useTable(props.tracking.statsTable, ENV.STATS_TABLE, ['Query'])
      .useBucketObjects(props.bucket, ENV.CATALOGUE_BUCKET, CATALOGUE_PREFIX, ['GetObject']);
    // The snapshot pointer is missing until the first compaction: reading it needs the listing grant.
    this.recommendFunction
      .grantObjects(props.bucket, INDEX_PREFIX, ['GetObject'])
      .grantListing(props.bucket, INDEX_PREFIX);

    // The compactor neither embeds nor decodes images: no layers.
    this.compactFunction = new LookalikeFunction(this, 'Compact', {
      name: 'compact',
      memorySize: 2048,
      timeout: Duration.minutes(5),
      environment: {
        [ENV.ACTIVE_MODEL_ID]: manifest.modelId,
        [ENV.MODEL_DIMENSION]: String(manifest.output.dim),
      },
    }).useTable(props.itemsTable, ENV.ITEMS_TABLE, ['BatchGetItem'], { indexActions: ['Query'] });
    this.compactFunction.function.addEnvironment(ENV.CATALOGUE_BUCKET, props.bucket.bucketName);
    this.compactFunction
      .grantObjects(props.bucket, INDEX_PREFIX, ['GetObject', 'PutObject', 'DeleteObject'])
      .grantListing(props.bucket, INDEX_PREFIX);
    this.compactDeadLetters = deadLetterQueue(this, 'CompactionFailures', "the compactor's stream mapping");
    this.compactFunction.function.addEventSource(
      new DynamoEventSource(props.itemsTable, {
        startingPosition: StartingPosition.LATEST,
        batchSize: 1000,
        // Bursts of uploads make one snapshot: wait up to a minute, one batch per shard at a time (overlapping
        // compactions across shards are safe: the pointer only moves to a newer watermark).
        maxBatchingWindow: Duration.seconds(60),
        parallelizationFactor: 1,
        retryAttempts: 3,
        onFailure: new SqsDlq(this.compactDeadLetters),
      }),
    );

    this.accessLogs = new LogGroup(this, 'AccessLogs', { retention: RetentionDays.THREE_MONTHS });
    this.api = new HttpApi(this, 'Api', {
      description: 'Lookalike recommendations API',
      createDefaultStage: false,
      ...(props.allowedOrigins?.length
        ? {
            corsPreflight: {
              allowOrigins: props.allowedOrigins,
              allowHeaders: ['authorization', 'content-type'],
              allowMethods: [
                CorsHttpMethod.GET,
                CorsHttpMethod.POST,
                CorsHttpMethod.PUT,
                CorsHttpMethod.PATCH,
                CorsHttpMethod.DELETE,
              ],
              maxAge: Duration.hours(1),
            },
          }
        : {}),
    });
    this.stage = new HttpStage(this, 'Stage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.throttleRateLimit ?? 200, burstLimit: props.throttleBurstLimit ?? 400 },
      accessLogSettings: { destination: new LogGroupLogDestination(this.accessLogs) },
    });

    let jwtAuthorizer: IHttpRouteAuthorizer;
    if (props.jwt) {
      jwtAuthorizer = new HttpJwtAuthorizer('Jwt', props.jwt.issuer, { jwtAudience: props.jwt.audience });
    } else {
      const pool = new UserPool(this, 'Users', {
        mfa: Mfa.OPTIONAL,
        mfaSecondFactor: { otp: true, sms: false },
        selfSignUpEnabled: false,
        passwordPolicy: {
          minLength: 12,
          requireDigits: true,
          requireLowercase: true,
          requireUppercase: true,
          requireSymbols: true,
        },
      });
      const client = new UserPoolClient(this, 'AppClient', { userPool: pool, generateSecret: false });
      this.userPool = pool;
      Validations.of(pool).acknowledge({
        id: 'AwsSolutions-COG2',
        reason:
          "End users of a shop sign in with the shop's own rules: MFA is offered (TOTP) but not forced. Shops that need it set jwt to their own IdP or enable it on this pool.",
      });
      Validations.of(pool).acknowledge({
        id: 'AwsSolutions-COG8',
        reason:
          'The Plus feature plan (threat protection) is a per-user cost a shop opts into; the pool is a default for stacks without their own IdP.',
      });
      const issuer = `https://cognito-idp.${Stack.of(this).region}.amazonaws.com/${pool.userPoolId}`;
      jwtAuthorizer = new HttpJwtAuthorizer('Jwt', issuer, { jwtAudience: [client.userPoolClientId] });
      new CfnOutput(this, 'UserPoolId', { value: pool.userPoolId });
      new CfnOutput(this, 'UserPoolClientId', { value: client.userPoolClientId });
    }
    const iamAuthorizer = new HttpIamAuthorizer();

    const integrations: Record<RouteFunction, HttpLambdaIntegration> = {
      track: new HttpLambdaIntegration('TrackIntegration', props.tracking.trackFunction.function),
      recommend: new HttpLambdaIntegration('RecommendIntegration', this.recommendFunction.function),
    };
    for (const route of ROUTES) {
      new HttpRoute(this, `${route.method}${route.path.replace(/[^A-Za-z0-9]/g, '')}`, {
        httpApi: this.api,
        routeKey: HttpRouteKey.with(route.path, HttpMethod[route.method]),
        integration: integrations[route.function],
        authorizer: route.auth === 'iam' ? iamAuthorizer : jwtAuthorizer,
      });
    }
    new CfnOutput(this, 'ApiUrl', { value: this.api.apiEndpoint });
  }
}
