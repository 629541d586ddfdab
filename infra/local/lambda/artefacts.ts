/**
 * What `cdk deploy` ships, run as Lambda runs it: each function's bundled asset from the synthesized
 * cloud assembly in a task root of its own, its layers under an /opt of its own, the environment the
 * template gives it (names resolved to the local stand-ins), its own credentials, in a Node process
 * of the runtime's major. Nothing from the repository's node_modules is reachable: the task roots
 * and layers are copied outside the repository, so a bundle that leaves a package external fails here
 * as it would on Lambda.
 */
import { type ChildProcess, fork } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { functionCredentials } from '../iam/iam-twin';
import { lambdaTraceHeader } from './xray-daemon';

type Template = {
  Resources: Record<
    string,
    { Type: string; Properties?: Record<string, unknown>; Metadata?: Record<string, unknown> }
  >;
};

export interface FunctionArtefact {
  readonly functionName: string;
  /** The asset folder in the cloud assembly. */
  readonly codeDir: string;
  readonly handler: string;
  /** Layer asset folders, in the template's order. */
  readonly layerDirs: readonly string[];
  /** As the template has it (values may be intrinsics). */
  readonly environment: Readonly<Record<string, unknown>>;
  readonly timeoutSeconds: number;
}

/** The functions of a synthesized stack, with where their assets are in `outdir`. */
export function functionArtefacts(template: Template, outdir: string): FunctionArtefact[] {
  // The asset manifest maps each asset's S3 key (its hash) to its folder in the cloud assembly.
  const manifests = readdirSync(outdir).filter((file) => file.endsWith('.assets.json'));
  const folders = new Map<string, string>();
  for (const manifest of manifests) {
    const { files } = JSON.parse(readFileSync(join(outdir, manifest), 'utf8')) as {
      files: Record<string, { source: { path: string } }>;
    };
    for (const [hash, file] of Object.entries(files))
      folders.set(`${hash}.zip`, join(outdir, file.source.path));
  }
  const assetDir = (id: string) => {
    const properties = template.Resources[id]?.Properties ?? {};
    const code = (properties.Code ?? properties.Content) as { S3Key?: unknown } | undefined;
    const folder = typeof code?.S3Key === 'string' ? folders.get(code.S3Key) : undefined;
    if (!folder) throw new Error(`${id} has no asset in the cloud assembly at ${outdir}`);
    return folder;
  };
  return Object.entries(template.Resources).flatMap(([id, resource]) => {
    if (resource.Type !== 'AWS::Lambda::Function') return [];
    const properties = resource.Properties ?? {};
    const environment =
      (properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
    const functionName = environment.POWERTOOLS_SERVICE_NAME;
    if (typeof functionName !== 'string') return [];
    const layers = (properties.Layers as Array<{ Ref: string }> | undefined) ?? [];
    return [
      {
        functionName,
        codeDir: assetDir(id),
        handler: String(properties.Handler ?? 'index.handler'),
        layerDirs: layers.map((layer) => assetDir(layer.Ref)),
        environment,
        timeoutSeconds: Number(properties.Timeout ?? 3),
      },
    ];
  });
}

export interface LambdaProcessOptions {
  /** Local values of the variables that name resources (table and bucket names). */
  readonly names: Readonly<Record<string, string>>;
  /** Endpoints, region and checksum settings of the stand-ins (AWS_* variables). */
  readonly awsEnv: Readonly<Record<string, string>>;
  /** Extra variables, e.g. quieter logs or shorter refresh intervals. */
  readonly environment?: Readonly<Record<string, string>>;
  /** Where task roots and /opt equivalents are laid out. @default a fresh temporary folder */
  readonly workDir?: string;
  /** @default process.execPath (the test runs under the runtime's Node major) */
  readonly nodePath?: string;
  /** Where the function sends its X-Ray segments (see xray-daemon.ts). @default nowhere listening */
  readonly xrayDaemonAddress?: string;
}

/**
 * A variable's local value: a `Ref` to a table or the bucket is the local name the stand-ins use for
 * that variable; literals stay, except the one that names /opt (the model manifest).
 */
function localValue(
  name: string,
  value: unknown,
  names: Readonly<Record<string, string>>,
  opt: string,
): string {
  if (typeof value === 'string') return value.replace(/^\/opt\//, `${opt}/`);
  const local = names[name];
  if ((value as { Ref?: unknown } | null)?.Ref !== undefined && local !== undefined) return local;
  throw new Error(`${name}: no local value for ${JSON.stringify(value)}`);
}

export interface LambdaProcess {
  readonly functionName: string;
  /** Time to load the handler module (the bundle and what it requires at load), in ms. */
  readonly initMs: number;
  /** Node version the function runs on. */
  readonly node: string;
  invoke<T = unknown>(event: unknown, context?: Partial<Context>): Promise<T>;
  stop(): Promise<void>;
}

/** Lays out one function as Lambda does and starts its process; resolves once the handler is loaded. */
export async function startLambdaProcess(
  artefact: FunctionArtefact,
  options: LambdaProcessOptions,
): Promise<LambdaProcess> {
  const workDir = options.workDir ?? mkdtempSync(join(tmpdir(), 'lookalike-lambda-'));
  const root = join(workDir, artefact.functionName);
  const taskRoot = join(root, 'task');
  const opt = join(root, 'opt');
  rmSync(root, { recursive: true, force: true });
  mkdirSync(opt, { recursive: true });
  cpSync(artefact.codeDir, taskRoot, { recursive: true });
  for (const layer of artefact.layerDirs) {
    // Lambda extracts every layer into /opt; a copy outside the repository, shared by functions.
    const copy = join(workDir, '.layers', layer.split('/').pop() as string);
    if (!existsSync(copy)) cpSync(layer, copy, { recursive: true });
    for (const entry of ['nodejs', 'model']) {
      if (existsSync(join(copy, entry))) symlinkSync(join(copy, entry), join(opt, entry));
    }
  }
  const fromTemplate = Object.fromEntries(
    Object.entries(artefact.environment).map(([name, value]) => [
      name,
      localValue(name, value, options.names, opt),
    ]),
  );
  const credentials = functionCredentials(artefact.functionName);
  const child: ChildProcess = fork(join(__dirname, 'bootstrap.cjs'), [], {
    execPath: options.nodePath ?? process.execPath,
    // Only the variables Lambda sets: nothing of the test process leaks in.
    env: {
      PATH: process.env.PATH ?? '',
      LANG: 'en_US.UTF-8',
      TZ: ':UTC',
      LAMBDA_TASK_ROOT: taskRoot,
      _HANDLER: artefact.handler,
      AWS_LAMBDA_FUNCTION_NAME: artefact.functionName,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '2048',
      // Set by Lambda on every on-demand environment; Powertools reads cold starts from it.
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      // What Lambda sets for a function with active tracing: Powertools' Tracer turns on in Lambda
      // only, and the X-Ray SDK sends segments to the daemon; the trace header comes per invocation.
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
      AWS_XRAY_DAEMON_ADDRESS: options.xrayDaemonAddress ?? '127.0.0.1:2000',
      AWS_XRAY_CONTEXT_MISSING: 'LOG_ERROR',
      NODE_PATH: [`${opt}/nodejs/node24/node_modules`, `${opt}/nodejs/node_modules`, taskRoot].join(':'),
      ...fromTemplate,
      ...options.awsEnv,
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      ...options.environment,
    },
    execArgv: ['--enable-source-maps'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
  const pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  let nextId = 0;
  const ready = await new Promise<{ initMs: number; node: string }>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) =>
      reject(new Error(`${artefact.functionName} exited with ${code} during init`)),
    );
    child.on(
      'message',
      (message: { type: string; initMs: number; node: string; error?: { message: string } }) => {
        if (message.type === 'ready') resolve(message);
        if (message.type === 'init_error')
          reject(new Error(`${artefact.functionName} failed to initialise: ${message.error?.message}`));
      },
    );
  });
  child.removeAllListeners('exit');
  child.on('exit', () => {
    for (const call of pending.values()) call.reject(new Error(`${artefact.functionName} process exited`));
    pending.clear();
  });
  child.on(
    'message',
    (message: { type: string; id: number; result?: unknown; error?: { name: string; message: string } }) => {
      const call = pending.get(message.id);
      if (!call) return;
      pending.delete(message.id);
      if (message.type === 'result') call.resolve(message.result);
      else
        call.reject(
          Object.assign(new Error(message.error?.message), { name: message.error?.name ?? 'Error' }),
        );
    },
  );
  return {
    functionName: artefact.functionName,
    initMs: ready.initMs,
    node: ready.node,
    invoke<T>(event: unknown, context: Partial<Context> = {}) {
      const id = ++nextId;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
        child.send({
          type: 'invoke',
          id,
          event,
          timeoutMs: artefact.timeoutSeconds * 1000,
          traceId: lambdaTraceHeader(),
          context: {
            functionName: artefact.functionName,
            functionVersion: '$LATEST',
            awsRequestId: context.awsRequestId ?? crypto.randomUUID(),
            invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${artefact.functionName}`,
            memoryLimitInMB: '2048',
            logGroupName: `/aws/lambda/${artefact.functionName}`,
            logStreamName: 'local',
          },
        });
      });
    },
    stop() {
      return new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      });
    },
  };
}
