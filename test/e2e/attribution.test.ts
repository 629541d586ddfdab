/**
 * The demo page's attribution panel in a real browser (Debian's Chromium driven by playwright-core)
 * after a short `npm run simulate` against the local system: the charts of click-through and
 * purchase conversion per placement hold points, and the table the counts the API answers.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { type LocalApp, startLocalApp } from '../../infra/local/app';
import { localCatalogueRoute } from '../../infra/local/demo-routes';
import { seedSyntheticItems } from '../support/synthetic-items';

const CHROMIUM = process.env.LOOKALIKE_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const runInBrowser = existsSync(CHROMIUM) || process.env.CI !== undefined;
if (!runInBrowser) {
  console.warn(
    `SKIPPED the attribution panel browser test: no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set LOOKALIKE_CHROMIUM)`,
  );
}
const describeInBrowser = runInBrowser ? describe : describe.skip;
const ROOT = join(__dirname, '..', '..');

/** `npm run simulate -- <args>`, as a developer runs it; resolves with its output. */
function runSimulate(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '--silent', 'simulate', '--', ...args], {
      cwd: ROOT,
      env: process.env,
    });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(output) : reject(new Error(`npm run simulate exited ${code}:\n${output}`)),
    );
  });
}

describeInBrowser('the attribution panel', () => {
  const savedEnv = { ...process.env };
  const dataDir = mkdtempSync(join(tmpdir(), 'lookalike-e2e-attr-'));
  let app: LocalApp | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`CI runs the browser tests: no Chromium at ${CHROMIUM}`);
    const sharedDynamoDb = process.env.LOOKALIKE_DYNAMODB_ENDPOINT || undefined;
    [app, browser] = await Promise.all([
      startLocalApp({
        dataDir,
        apiPort: 0,
        staticDir: join(ROOT, 'infra', 'local', 'demo'),
        extraRoutes: [localCatalogueRoute()],
        ...(sharedDynamoDb
          ? { dynamoEndpoint: sharedDynamoDb, tablePrefix: `e2e-${randomBytes(4).toString('hex')}-` }
          : {}),
      }),
      chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS }),
    ]);
    // A catalogue of four categories, each of visually close items, with prices.
    await seedSyntheticItems(
      app,
      Array.from({ length: 48 }, (_, i) => `sim-item-${i}`),
      5,
      (i) => ({ category: ['shoes', 'bags', 'hats', 'scarves'][i % 4] as string, price: 20 + (i % 7) * 5 }),
    );
  }, 150_000);

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
    Object.assign(process.env, savedEnv);
  }, 60_000);

  it('shows click-through and conversion per placement after a short simulation', async () => {
    const output = await runSimulate(['--url', app?.url as string, '--users', '20', '--minutes', '0.25']);
    const summary = JSON.parse(output.split('\n').find((line) => line.startsWith('{')) ?? '{}') as {
      lists: number;
      clicks: number;
      failures: number;
    };
    expect(summary.lists).toBeGreaterThan(10);
    expect(summary.clicks).toBeGreaterThan(0);
    expect(summary.failures).toBe(0);
    await app?.impressionsStream.drain();
    await app?.eventsStream.drain();

    const page = await (browser as Browser).newPage({ viewport: { width: 1280, height: 900 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(`${app?.url}/`);
    await page.getByRole('button', { name: 'Attribution metrics' }).click();
    await page.locator('#ctr-chart svg').waitFor();

    // The simulator serves home, product and email lists: each has a point today, with clicks. (The
    // page's own lists, served under their strategy's name, may add points of their own.)
    const points = await page
      .locator('#ctr-chart circle')
      .evaluateAll((circles) =>
        circles.map((c) => [c.getAttribute('data-placement'), Number(c.getAttribute('data-value'))] as const),
      );
    const simulated = points.filter(([placement]) => ['home', 'product', 'email'].includes(placement ?? ''));
    expect(new Set(simulated.map(([placement]) => placement))).toEqual(new Set(['home', 'product', 'email']));
    for (const [, ctr] of simulated) expect(ctr).toBeGreaterThan(0);
    const placements = points.map(([placement]) => placement);
    expect(await page.locator('#conversion-chart circle').count()).toBe(placements.length);
    const shown = await page.locator('#metrics-rows td.impressions').allTextContents();
    expect(shown.reduce((sum, text) => sum + Number(text), 0)).toBeGreaterThan(summary.lists);
    expect(pageErrors).toEqual([]);
    await page
      .screenshot({ path: join(__dirname, '..', '.artifacts', 'attribution-panel.png') })
      .catch(() => undefined);
    await page.close();
  }, 180_000);
});
