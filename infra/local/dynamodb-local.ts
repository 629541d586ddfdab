/**
 * DynamoDB Local (the official jar) as a child process. The jar ships inside the npm package
 * amplify-dynamodb-simulator; we only `npm pack` it and keep its emulator/ folder in a cache, because
 * installing that package would drag an old aws-cdk-lib and TypeScript into the tree.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, statfs, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from './aws-env';
import { LocalStackError } from './errors';

const execFileAsync = promisify(execFile);

/** Pinned: version 2.9.30 carries DynamoDB Local 1.25.1. */
export const DYNAMODB_LOCAL_PACKAGE = 'amplify-dynamodb-simulator@2.9.30';
const JAR = 'DynamoDBLocal.jar';
/** Written last into the extracted folder, so a folder with the right marker is complete. */
const MARKER = '.lookalike-source';

export interface DynamoDbLocalOptions {
  /** Port to listen on. @default 0 (a free port) */
  readonly port?: number;
  /**
   * Directory for a persistent database. @default a scratch directory in RAM (`/dev/shm` when it has
   * room, else the OS's temp directory), removed on stop: see {@link scratchDbDir}.
   */
  readonly dbPath?: string;
  /**
   * DynamoDB Local's own `-inMemory` mode instead. Its stream records cannot be indexed, so every
   * write to a table with a stream slows down as records accumulate (see {@link indexStreamRecords}).
   * @default false
   */
  readonly inMemory?: boolean;
  /** Where the jar is cached. @default `$LOOKALIKE_CACHE_DIR/dynamodb-local` or `<repo>/.cache/dynamodb-local` */
  readonly installDir?: string;
  /** @default 'java' */
  readonly javaPath?: string;
  /** How long to wait for the first answer to ListTables. @default 30_000 */
  readonly startTimeoutMs?: number;
}

export interface DynamoDbLocal {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly port: number;
  readonly pid: number;
  /** Kills the process and resolves once it has exited. Safe to call twice. */
  stop(): Promise<void>;
}

export function defaultInstallDir(): string {
  const cacheRoot = process.env.LOOKALIKE_CACHE_DIR || path.resolve(__dirname, '..', '..', '.cache');
  return path.join(cacheRoot, 'dynamodb-local');
}

/** Throws `java_not_found` with an install hint when no JVM is on the PATH. */
export function assertJavaAvailable(javaPath = 'java'): void {
  const probe = spawnSync(javaPath, ['-version'], { stdio: 'ignore' });
  if (probe.error || probe.status !== 0) {
    throw new LocalStackError(
      'java_not_found',
      `DynamoDB Local needs Java 17+, but \`${javaPath} -version\` failed (${probe.error?.message ?? `exit ${probe.status}`}). ` +
        'Install a JRE (Debian/Ubuntu: `apt-get install -y openjdk-17-jre-headless`) or put java on the PATH.',
      { cause: probe.error },
    );
  }
}

/**
 * Makes sure the jar is in `installDir` and returns that folder. Two concurrent callers each extract
 * into their own temporary folder and rename it into place; the loser discards its copy.
 */
export async function ensureDynamoDbLocal(installDir = defaultInstallDir()): Promise<string> {
  if (await isInstalled(installDir)) return installDir;
  const parent = path.dirname(installDir);
  await mkdir(parent, { recursive: true });
  // Same filesystem as the target, so the final rename is atomic.
  const work = await mkdtemp(path.join(parent, `.${path.basename(installDir)}-tmp-`));
  try {
    const { stdout } = await execFileAsync(
      'npm',
      ['pack', DYNAMODB_LOCAL_PACKAGE, '--pack-destination', work, '--json', '--silent'],
      { cwd: work, maxBuffer: 32 * 1024 * 1024 },
    );
    const [packed] = JSON.parse(stdout) as Array<{ filename: string }>;
    if (!packed) throw new Error('npm pack printed no file name');
    await execFileAsync('tar', ['-xzf', path.join(work, packed.filename), '-C', work, 'package/emulator']);
    const extracted = path.join(work, 'package', 'emulator');
    if (!existsSync(path.join(extracted, JAR))) throw new Error(`${JAR} is not in ${packed.filename}`);
    await writeFile(path.join(extracted, MARKER), DYNAMODB_LOCAL_PACKAGE);
    if (existsSync(installDir)) {
      // A folder from another pinned version: move it aside first (not atomic, but rare).
      if (await isInstalled(installDir)) return installDir;
      await rename(installDir, path.join(work, 'stale'));
    }
    await rename(extracted, installDir).catch(async (error: NodeJS.ErrnoException) => {
      // Another process won the race; its folder is as good as ours.
      if (!(await isInstalled(installDir))) throw error;
    });
    return installDir;
  } catch (error) {
    throw new LocalStackError(
      'dynamodb_local_download_failed',
      `Could not fetch DynamoDB Local from the npm registry (${DYNAMODB_LOCAL_PACKAGE}) into ${installDir}: ${String(error)}`,
      { cause: error },
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function isInstalled(dir: string): Promise<boolean> {
  const marker = await readFile(path.join(dir, MARKER), 'utf8').catch(() => '');
  return marker === DYNAMODB_LOCAL_PACKAGE && existsSync(path.join(dir, JAR));
}

export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  const javaPath = options.javaPath ?? 'java';
  assertJavaAvailable(javaPath);
  const installDir = await ensureDynamoDbLocal(options.installDir);
  if (options.dbPath) await mkdir(options.dbPath, { recursive: true });
  const scratch = options.dbPath || options.inMemory ? undefined : await scratchDbDir();
  // A port we picked can be taken between probing and binding; retry only in that case.
  const attempts = options.port ? 1 : 3;
  for (let attempt = 1; ; attempt++) {
    const port = options.port || (await freePort());
    // A failed launch removes the scratch directory with the process.
    if (scratch) await mkdir(scratch.dir, { recursive: true });
    try {
      return await launch(
        { ...options, javaPath, installDir, port, dbPath: options.dbPath ?? scratch?.dir },
        scratch,
      );
    } catch (error) {
      const portTaken = /BindException|Address already in use/i.test(String(error));
      if (!portTaken || attempt >= attempts) {
        await scratch?.remove();
        throw error;
      }
    }
  }
}

interface LaunchOptions extends DynamoDbLocalOptions {
  readonly javaPath: string;
  readonly installDir: string;
  readonly port: number;
}

async function launch(options: LaunchOptions, scratch?: ScratchDir): Promise<DynamoDbLocal> {
  const storage = options.dbPath ? ['-dbPath', path.resolve(options.dbPath)] : ['-inMemory'];
  const javaArgs = [
    '-Djava.library.path=DynamoDBLocal_lib',
    '-jar',
    JAR,
    ...storage,
    '-port',
    String(options.port),
    '-sharedDb',
    '-disableTelemetry',
  ];
  const [command, args] = withParentDeathSignal(options.javaPath, javaArgs);
  const child = spawn(command, args, { cwd: options.installDir, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = tailOf(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // The 'exit' event still fires when the parent ends normally or via process.exit(); a signal
  // that kills the parent outright is covered by the parent-death signal above (Linux).
  const killOnExit = () => {
    child.kill('SIGKILL');
    scratch?.removeSync();
  };
  process.once('exit', killOnExit);
  // Do not let a forgotten stop() keep the parent alive; the exit hook then reaps the child.
  child.unref();
  for (const stream of [child.stdout, child.stderr]) (stream as unknown as { unref?: () => void })?.unref?.();

  const endpoint = `http://127.0.0.1:${options.port}`;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      process.removeListener('exit', killOnExit);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      await scratch?.remove();
    })();
    return stopped;
  };

  try {
    await waitUntilAnswering(endpoint, child, output, options.startTimeoutMs ?? 30_000);
    if (options.dbPath) indexStreamRecords(path.join(options.dbPath, SHARED_DB_FILE));
  } catch (error) {
    await stop();
    throw error;
  }
  return { endpoint, port: options.port, pid: child.pid ?? -1, stop };
}

/** The database file of `-sharedDb` in the `-dbPath` directory. */
const SHARED_DB_FILE = 'shared-local-instance.db';

/**
 * Indexes DynamoDB Local's stream records. The jar keeps every stream record, of every table and of
 * deleted tables too, for 24 hours in one SQLite table (`us`) keyed by sequence number only, and each
 * write to a table with a stream looks up records by shard: a full scan. Writes slow down with the
 * records written before them, across tables (`npm run bench:twin-streams`, in `-inMemory` mode:
 * 5,000 stream writes in 3.6 s on a fresh instance and 21.4 s after 15,000 others; a 40-item
 * transaction 46 ms, then 543 ms). Late in the test run that turned 100-event requests into the
 * API's 30 s timeout. With these indexes the same 5,000 writes take 2.3 to 3.6 s however many came
 * before. The file is opened beside the running jar (SQLite allows it); the statements are
 * idempotent, so a persistent database gains the indexes once.
 */
export function indexStreamRecords(dbFile: string): void {
  withDatabase(dbFile, { readOnly: false }, (db) => {
    const table = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'us'").get();
    if (!table) {
      process.emitWarning(
        `DynamoDB Local's stream record table (us) is not in ${dbFile}: writes to tables with streams ` +
          'will slow down as records accumulate (see indexStreamRecords).',
      );
      return;
    }
    db.exec('CREATE INDEX IF NOT EXISTS lookalike_us_shard ON us (ShardID, SequenceNumber)');
    db.exec('CREATE INDEX IF NOT EXISTS lookalike_us_stream ON us (StreamID, SequenceNumber)');
  });
}

/** The names of the stream record indexes in a DynamoDB Local database file. */
export function streamRecordIndexes(dbFile: string): string[] {
  return withDatabase(dbFile, { readOnly: true }, (db) =>
    db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'us'")
      .all()
      .map((row) => String(row.name)),
  );
}

/** Opens DynamoDB Local's database file beside the jar (waiting out its locks), and closes it. */
function withDatabase<T>(
  dbFile: string,
  options: { readOnly: boolean },
  use: (db: import('node:sqlite').DatabaseSync) => T,
): T {
  // node:sqlite is reached through getBuiltinModule: Jest's module registry knows no `node:`-only builtin.
  const { DatabaseSync } = process.getBuiltinModule('node:sqlite') as typeof import('node:sqlite');
  const db = new DatabaseSync(dbFile, { readOnly: options.readOnly, timeout: 10_000 });
  try {
    return use(db);
  } finally {
    db.close();
  }
}

interface ScratchDir {
  readonly dir: string;
  remove(): Promise<void>;
  removeSync(): void;
}

const SCRATCH_PREFIX = 'lookalike-dynamodb-';
/** Below this much free space in /dev/shm (a container's default is 64 MB), the temp directory is used. */
const MIN_SHM_FREE_BYTES = 2 * 1024 ** 3;

/**
 * A directory for a throwaway database: in RAM when `/dev/shm` has room (a file on disk costs a
 * sync per write), else in the OS's temp directory. Named after this process, so directories left
 * by processes that died (SIGKILL skips every hook) are removed here.
 */
async function scratchDbDir(): Promise<ScratchDir> {
  let root = tmpdir();
  try {
    const stats = await statfs('/dev/shm');
    if (stats.bavail * stats.bsize >= MIN_SHM_FREE_BYTES) root = '/dev/shm';
  } catch {
    // No /dev/shm (not Linux): the temp directory.
  }
  await removeOrphans(root);
  const dir = await mkdtemp(path.join(root, `${SCRATCH_PREFIX}${process.pid}-`));
  return {
    dir,
    remove: () => rm(dir, { recursive: true, force: true }),
    removeSync: () => rmSync(dir, { recursive: true, force: true }),
  };
}

async function removeOrphans(root: string): Promise<void> {
  const entries = await readdir(root).catch(() => [] as string[]);
  for (const entry of entries) {
    if (!entry.startsWith(SCRATCH_PREFIX)) continue;
    const pid = Number.parseInt(entry.slice(SCRATCH_PREFIX.length), 10);
    if (!pid || isAlive(pid)) continue;
    await rm(path.join(root, entry), { recursive: true, force: true }).catch(() => undefined);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** On Linux, `setpriv --pdeathsig` makes the kernel kill the JVM if this process dies by a signal. */
function withParentDeathSignal(command: string, args: string[]): [string, string[]] {
  if (process.platform !== 'linux') return [command, args];
  hasSetpriv ??= spawnSync('setpriv', ['--help'], { stdio: 'ignore' }).status === 0;
  return hasSetpriv ? ['setpriv', ['--pdeathsig', 'KILL', '--', command, ...args]] : [command, args];
}
let hasSetpriv: boolean | undefined;

/** Keeps the last few KB of the child's output for error messages, and keeps the pipes drained. */
function tailOf(child: ChildProcess): () => string {
  let tail = '';
  const append = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-4_000);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  return () => tail.trim();
}

async function waitUntilAnswering(
  endpoint: string,
  child: ChildProcess,
  output: () => string,
  timeoutMs: number,
): Promise<void> {
  const client = new DynamoDBClient({
    endpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 1,
  });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new LocalStackError(
          'dynamodb_local_start_failed',
          `DynamoDB Local exited (${child.exitCode ?? child.signalCode}) before answering:\n${output()}`,
        );
      }
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }), { abortSignal: AbortSignal.timeout(1_000) });
        return;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) {
        throw new LocalStackError(
          'dynamodb_local_start_failed',
          `DynamoDB Local did not answer on ${endpoint} within ${timeoutMs} ms:\n${output()}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    client.destroy();
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
