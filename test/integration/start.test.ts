/**
 * `npm start` as a developer runs it: a child process on free ports with a data directory, driven
 * only through what it prints (the endpoints and the quick-start commands) and then stopped with Ctrl-C.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { LOCAL_CREDENTIALS } from '../../infra/local/aws-env';
import { generateOpenApi } from '../../infra/local/openapi';
import { startS3Local } from '../../infra/local/s3-local';
import { catalogueJpeg, emojiImages } from '../support/images';
import {
  interrupt,
  killHard,
  npmRunTrain,
  npmStartReady,
  printed,
  type RunningStart,
} from '../support/npm-start';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Variables = Record<string, string>;

/**
 * Shell words of a command line: single quotes literal, `$NAME` / `${NAME}` expanded elsewhere, no
 * backslash escapes (the quick start needs none).
 */
function shellWords(line: string, variables: Variables): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  const expand = (text: string) =>
    text.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_, name: string) => {
      const value = variables[name];
      if (value === undefined) throw new Error(`the quick start uses $${name} before setting it: ${line}`);
      return value;
    });
  for (let i = 0; i < line.length; i++) {
    const char = line[i] ?? '';
    if (quote === "'") {
      if (char === "'") quote = undefined;
      else word += char;
    } else if (char === quote) {
      quote = undefined;
    } else if (char === "'" || (char === '"' && quote === undefined)) {
      quote = char;
      word ??= '';
    } else if (quote === undefined && /\s/.test(char)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (char === '$') {
      const name = /^\$(\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)/.exec(line.slice(i))?.[0] ?? '$';
      word = (word ?? '') + expand(name);
      i += name.length - 1;
    } else {
      word = (word ?? '') + char;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** The quick start's command lines, continuation lines joined. */
function quickStartLines(stdout: string): string[] {
  const start = stdout.indexOf('Quick start');
  if (start === -1) throw new Error(`npm start printed no quick start:\n${stdout}`);
  return stdout
    .slice(start)
    .replace(/\\\n\s*/g, '')
    .split('\n')
    .slice(1)
    .map((line) => line.trim())
    .filter((line) => line !== '' && line !== 'ready' && !line.startsWith('#'));
}

/** What curl would send for one quick-start command. */
function curlRequest(words: string[], files: Record<string, Buffer>): { url: string; init: RequestInit } {
  const headers: Record<string, string> = {};
  let method: string | undefined;
  let body: string | Buffer | undefined;
  let url: string | undefined;
  for (let i = 1; i < words.length; i++) {
    const word = words[i] ?? '';
    if (word === '-s' || word === '-f' || word === '-sf' || word === '-fsS') continue;
    if (word === '-X') method = words[++i];
    else if (word === '-H') {
      const [name = '', ...value] = (words[++i] ?? '').split(':');
      headers[name.trim()] = value.join(':').trim();
    } else if (word === '-d' || word === '--data-binary') {
      const data = words[++i] ?? '';
      const file = data.startsWith('@') ? files[data.slice(1)] : undefined;
      if (data.startsWith('@') && !file) throw new Error(`no file ${data} for ${words.join(' ')}`);
      body = file ?? data;
    } else if (/^https?:\/\//.test(word)) url = word;
    else throw new Error(`unexpected curl argument ${word}`);
  }
  if (!url) throw new Error(`no URL in ${words.join(' ')}`);
  return { url, init: { method: method ?? (body ? 'POST' : 'GET'), headers, body } };
}

interface CurlResult {
  command: string;
  method: string;
  url: string;
  status: number;
  body: unknown;
}

/**
 * Runs the printed quick start as a shell would: `export A=b`, `X=$(curl ... | jq -r .field)`,
 * `aws s3 cp ...` (with the SDK; `afterUpload` waits for the item) and `curl ...` (with fetch).
 */
async function runQuickStart(
  stdout: string,
  files: Record<string, Buffer>,
  afterUpload: (upload: { bucket: string; key: string }) => Promise<void>,
): Promise<CurlResult[]> {
  const variables: Variables = {};
  const results: CurlResult[] = [];
  const curl = async (words: string[]): Promise<CurlResult> => {
    const { url, init } = curlRequest(words, files);
    const response = await fetch(url, init);
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { command: words.join(' '), method: init.method ?? 'GET', url, status: response.status, body };
  };
  for (const line of quickStartLines(stdout)) {
    const substitution = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=\$\((.*)\)$/.exec(line);
    if (substitution?.[1] && substitution[2]) {
      const [command = '', filter] = substitution[2].split('|').map((part) => part.trim());
      const result = await curl(shellWords(command, variables));
      const field = filter ? /^jq\s+-r\s+'?\.([A-Za-z_]+)'?$/.exec(filter)?.[1] : undefined;
      if (filter && !field) throw new Error(`cannot run ${filter} in: ${line}`);
      variables[substitution[1]] = field
        ? String((result.body as Record<string, unknown>)[field])
        : String(result.body);
      continue;
    }
    const words = shellWords(line, variables);
    if (words[0] === 'export') {
      for (const assignment of words.slice(1)) {
        const [name = '', ...value] = assignment.split('=');
        variables[name] = value.join('=');
      }
    } else if (words[0] === 'aws' && words[1] === 's3' && words[2] === 'cp') {
      await afterUpload(await awsS3Cp(words, files));
    } else if (words[0] === 'curl') {
      results.push(await curl(words));
    } else if (words.slice(0, 4).join(' ') === 'npm run train --') {
      const comment = words.findIndex((word) => word.startsWith('#'));
      const args = words.slice(4, comment === -1 ? undefined : comment);
      const run = await npmRunTrain(args);
      const last = run.stdout.trim().split('\n').at(-1) ?? '';
      results.push({
        command: words.join(' '),
        method: 'CLI',
        url: 'npm run train',
        status: run.code === 0 ? 200 : 500,
        body: run.code === 0 ? JSON.parse(last) : run.stderr,
      });
    } else {
      throw new Error(`the test does not know how to run: ${line}`);
    }
  }
  return results;
}

function s3Client(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: LOCAL_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
}

/** `aws s3 cp <file> s3://bucket/key --endpoint-url <url> --metadata k=v,...` with the SDK. */
async function awsS3Cp(
  words: string[],
  files: Record<string, Buffer>,
): Promise<{ bucket: string; key: string }> {
  const [, , , file = '', target = ''] = words;
  const option = (name: string) => words[words.indexOf(name) + 1] ?? '';
  const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(target);
  if (!match?.[1] || !match[2]) throw new Error(`not an S3 URL: ${target}`);
  const metadata = Object.fromEntries(
    option('--metadata')
      .split(',')
      .map((pair) => pair.split('=') as [string, string]),
  );
  const s3 = s3Client(option('--endpoint-url'));
  await s3.send(
    new PutObjectCommand({
      Bucket: match[1],
      Key: match[2],
      Body: files[file],
      ContentType: 'image/jpeg',
      Metadata: metadata,
    }),
  );
  s3.destroy();
  return { bucket: match[1], key: match[2] };
}

/** A token for `userId` from the local token endpoint, or none while the server has no such endpoint. */
async function bearer(api: string, userId = 'start-test'): Promise<Record<string, string>> {
  const response = await fetch(`${api}/local/token?userId=${encodeURIComponent(userId)}`);
  if (response.status === 404) return {};
  const { token } = (await response.json()) as { token: string };
  return { authorization: `Bearer ${token}` };
}

async function itemStatus(
  api: string,
  itemId: string,
): Promise<{ status: number; body: { status?: string; title?: string } }> {
  const response = await fetch(`${api}/items/${encodeURIComponent(itemId)}`, { headers: await bearer(api) });
  return { status: response.status, body: (await response.json()) as { status?: string } };
}

async function pollItem(api: string, itemId: string, withinMs: number) {
  const deadline = Date.now() + withinMs;
  let last = await itemStatus(api, itemId);
  while (!(last.status === 200 && last.body.status === 'ready') && Date.now() < deadline) {
    await sleep(200);
    last = await itemStatus(api, itemId);
  }
  return last;
}

describe('npm start', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'lookalike-start-'));
  const images = emojiImages();
  const photo = (name: string) => catalogueJpeg(images.find((image) => image.name === name)?.file ?? '', 600);
  let running: RunningStart | undefined;
  let bucket = '';

  afterAll(async () => {
    await killHard(running);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('gets ready, turns an upload into an item within 10 s, and its quick-start commands work', async () => {
    const files = { 'my-photo.jpg': await photo('athletic_shoe') };
    running = await npmStartReady(dataDir);
    const { stdout } = running.output;
    const api = printed(stdout, 'API');
    bucket = /bucket: (\S+)/.exec(stdout)?.[1] ?? '';

    // Run the quick start as printed; its upload must be served as an item within 10 s.
    let uploads = 0;
    const results = await runQuickStart(stdout, files, async (upload) => {
      uploads += 1;
      expect(upload.bucket).toBe(bucket);
      const uploadedAt = Date.now();
      const itemId = upload.key.replace(/^.*\//, '').replace(/\.[^.]+$/, '');
      expect(itemId).toBe('SKU-123');
      const item = await pollItem(api, itemId, 10_000);
      expect(item).toMatchObject({ status: 200, body: { status: 'ready', title: 'Red shoe' } });
      expect(Date.now() - uploadedAt).toBeLessThan(10_000);
    });
    expect(uploads).toBe(1);
    const calls = results.filter((result) => !result.url.includes('/local/'));
    expect(calls.length).toBeGreaterThanOrEqual(5);
    for (const { command, method, url, status, body } of calls) {
      const expected = method === 'POST' && url.endsWith('/events') ? 202 : 200;
      expect({ command, status }).toEqual({ command, status: expected });
      const answer = body as { accepted?: number; items?: Array<{ itemId: string }> };
      if (url.endsWith('/events')) expect(answer.accepted).toBe(1);
      if (url.includes('/search')) expect(answer.items?.[0]?.itemId).toBe('SKU-123');
    }
    // The trainer's quick-start line: one item and one event are too little to learn from.
    const training = calls.find((call) => call.url === 'npm run train')?.body as
      | { outcome?: string; gate?: { reasons?: Array<{ code: string }> } }
      | undefined;
    expect(training?.outcome).toBe('refused');
    expect(training?.gate?.reasons?.map((reason) => reason.code)).toEqual(['too_little_data']);

    // The demo page, the OpenAPI document and the page's catalogue listing.
    const page = await fetch(printed(stdout, 'demo page'));
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toContain('<title>Lookalike demo</title>');
    const openapi = await fetch(printed(stdout, 'OpenAPI'));
    expect(await openapi.json()).toEqual(JSON.parse(JSON.stringify(generateOpenApi())));
    const listing = (await (await fetch(`${api}/local/catalogue`)).json()) as {
      items: Array<{ itemId: string; imageUrl: string }>;
    };
    expect(listing.items.map((entry) => entry.itemId)).toEqual(['SKU-123']);
    const image = await fetch(listing.items[0]?.imageUrl ?? '');
    expect(Buffer.from(await image.arrayBuffer())).toEqual(files['my-photo.jpg']);
  }, 120_000);

  it('stops on Ctrl-C and, restarted, catches up on images uploaded while it was down', async () => {
    if (!running) throw new Error('the first test did not start npm start');
    expect(await interrupt(running)).toBe(0);
    expect(running.output.stderr).toContain('stopping');

    // Uploaded while Lookalike is stopped: s3rver alone, on the same data directory.
    const s3 = await startS3Local({ directory: join(dataDir, 's3') });
    const client = s3Client(s3.endpoint);
    await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: 'catalogue/offline/OFFLINE-1.jpg',
        Body: await photo('dog'),
        Metadata: { title: 'Dog' },
      }),
    );
    client.destroy();
    await s3.stop();

    running = await npmStartReady(dataDir);
    const api = printed(running.output.stdout, 'API');
    expect(await itemStatus(api, 'OFFLINE-1')).toMatchObject({
      status: 200,
      body: { status: 'ready', title: 'Dog' },
    });
    expect(await itemStatus(api, 'SKU-123')).toMatchObject({ status: 200, body: { status: 'ready' } });
    expect(running.output.stderr).toMatch(/caught up on 1 images/);
    expect(await interrupt(running)).toBe(0);
  }, 120_000);
});
