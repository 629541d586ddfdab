/**
 * `npm start` as a child process on free ports, in its own process group like a command in a
 * terminal, so a test can Ctrl-C it or kill it outright (DynamoDB Local's JVM included).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';

const REPO = join(__dirname, '..', '..');
const TSX = require.resolve('tsx/cli');

export interface RunningStart {
  readonly child: ChildProcess;
  readonly output: { stdout: string; stderr: string };
  readonly exited: Promise<number | null>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** `npx tsx infra/local/start.ts --no-seed` on free ports with this data directory (and `env` on top). */
export async function npmStart(dataDir: string, env: Record<string, string> = {}): Promise<RunningStart> {
  const [api, s3, dynamo] = [await freePort(), await freePort(), await freePort()];
  const args = [
    '--api-port',
    api,
    '--s3-port',
    s3,
    '--dynamo-port',
    dynamo,
    '--data-dir',
    dataDir,
    '--no-seed',
  ];
  const child = spawn(process.execPath, [TSX, 'infra/local/start.ts', ...args.map(String)], {
    cwd: REPO,
    env: { ...process.env, FORCE_COLOR: '0', ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = { stdout: '', stderr: '' };
  child.stdout?.on('data', (chunk: Buffer) => {
    output.stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output.stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output, exited };
}

export async function untilReady(running: RunningStart, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!/^ready$/m.test(running.output.stdout)) {
    if (running.child.exitCode !== null || Date.now() > deadline) {
      throw new Error(
        `npm start did not get ready:\n${running.output.stdout}\n${running.output.stderr.slice(-3000)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * `npmStart` until it is ready. Its free ports are only free when picked: another test running
 * beside it may bind one before `npm start` does, and then it exits with EADDRINUSE. That start is
 * tried again on fresh ports (3 times at most); any other failure kills what it started and throws.
 */
export async function npmStartReady(
  dataDir: string,
  env: Record<string, string> = {},
): Promise<RunningStart> {
  for (let attempt = 1; ; attempt++) {
    const running = await npmStart(dataDir, env);
    try {
      await untilReady(running);
      return running;
    } catch (error) {
      await killHard(running);
      const portTaken = running.child.exitCode !== null && /EADDRINUSE/.test(running.output.stderr);
      if (!portTaken || attempt >= 3) throw error;
    }
  }
}

/** Ctrl-C in a terminal: SIGINT to the whole process group. Resolves with the exit code. */
export async function interrupt(running: RunningStart): Promise<number | null> {
  if (running.child.pid !== undefined && running.child.exitCode === null)
    process.kill(-running.child.pid, 'SIGINT');
  return running.exited;
}

/** A crash: SIGKILL to the whole process group, nothing gets to clean up. Resolves once it is gone. */
export async function killHard(running: RunningStart | undefined): Promise<void> {
  if (running?.child.pid === undefined || running.child.exitCode !== null) return;
  try {
    process.kill(-running.child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
  await running.exited;
}

/** A printed line's value, e.g. `printed(stdout, 'API')` for "  API           http://...". */
export function printed(stdout: string, label: string): string {
  const value = new RegExp(`^\\s+${label}\\s+(\\S+)`, 'm').exec(stdout)?.[1];
  if (!value) throw new Error(`npm start did not print ${label}:\n${stdout}`);
  return value;
}

/** `npm run train -- <args>` as a child process (tsx, as npm would run it): exit code, stdout, stderr. */
export function npmRunTrain(
  args: readonly string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [TSX, 'infra/cli/train.ts', ...args], {
      cwd: REPO,
      env: { ...process.env, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
