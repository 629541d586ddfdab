/**
 * The demo page in a real browser (Debian's Chromium driven by playwright-core) against the whole local
 * system: real handlers, DynamoDB Local, s3rver, the upload queue and the model.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { ENV } from '../../functions/contract/environment';
import { type LocalApp, startLocalApp } from '../../infra/local/app';
import { createLocalS3Client } from '../../infra/local/aws-env';
import { demoCatalogue, uploadDemoImages } from '../../infra/local/demo-catalogue';
import { localCatalogueRoute } from '../../infra/local/demo-routes';
import { openApiRoute } from '../../infra/local/openapi';

const CHROMIUM = process.env.LOOKALIKE_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const ARTIFACTS = join(__dirname, '..', '.artifacts');
/** Moon phases: visually one family, so liking three of them should fill the recommendations. */
const CATEGORY = 'sky & weather';

// In CI a missing browser must fail the run; on a developer's machine it may only skip, visibly.
const runInBrowser = existsSync(CHROMIUM) || process.env.CI !== undefined;
if (!runInBrowser) {
  console.warn(
    `SKIPPED the demo page browser test: no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set LOOKALIKE_CHROMIUM)`,
  );
}
const describeInBrowser = runInBrowser ? describe : describe.skip;

const catalogue = demoCatalogue(12, 8);

async function uploadCatalogue(app: LocalApp): Promise<void> {
  const s3 = createLocalS3Client(app.stack.endpoints.s3);
  await uploadDemoImages(s3, app.stack.bucket, catalogue);
  s3.destroy();
  await app.queue.drain({ timeoutMs: 90_000 });
  await app.compact();
  const listed = (await (await fetch(`${app.url}/local/catalogue?limit=1`)).json()) as { total: number };
  if (listed.total !== catalogue.length) {
    throw new Error(`only ${listed.total} of ${catalogue.length} uploaded images became items`);
  }
}

const cardsIn = (page: Page, list: string) => page.locator(`#${list} > li[data-item-id]`);

async function titlesOf(page: Page, list: string): Promise<string[]> {
  return page.locator(`#${list} > li[data-item-id] .title`).allTextContents();
}

/** Runs `refresh` every half second until `list`'s titles satisfy `done`, for up to `ms`; the last titles. */
async function pollList(
  page: Page,
  list: string,
  refresh: () => Promise<void>,
  done: (titles: string[]) => boolean,
  ms: number,
): Promise<string[]> {
  let titles: string[] = [];
  for (const deadline = Date.now() + ms; Date.now() < deadline; await page.waitForTimeout(500)) {
    await refresh();
    await page.locator(`#${list}[aria-busy="false"]`).waitFor();
    titles = await titlesOf(page, list);
    if (done(titles)) break;
  }
  return titles;
}

/** The current shopper buys the catalogue's card titled `title`; waits until the API took it. */
async function buy(page: Page, title: string, eventsBefore: number): Promise<void> {
  await page
    .locator('#catalogue')
    .getByRole('button', { name: `Buy ${title}`, exact: true })
    .click();
  await page
    .locator(`#recommendations[data-profile-events="${eventsBefore + 1}"][aria-busy="false"]`)
    .waitFor();
}

/** Where a list first shows a category (0-based), or the list's length when it does not show it. */
const rankOf = (categories: readonly string[], category: string) =>
  categories.includes(category) ? categories.indexOf(category) : categories.length;

/** A new shopper who likes three items of `category`, with the personal list that follows. */
async function newShopperWhoLikes(page: Page, category: string): Promise<string[]> {
  await page.getByRole('button', { name: 'New user' }).click();
  await page.locator('#recommendations[data-profile-events="0"][aria-busy="false"]').waitFor();
  await page.getByLabel('Category', { exact: true }).selectOption(category);
  await page
    .locator(`#catalogue > li:not([data-category="${category}"])`)
    .first()
    .waitFor({ state: 'detached' });
  for (let i = 0; i < 3; i++) {
    await cardsIn(page, 'catalogue')
      .nth(i * 3)
      .getByRole('button', { name: /^Like / })
      .click();
    await page.locator(`#recommendations[data-profile-events="${i + 1}"][aria-busy="false"]`).waitFor();
  }
  return categoriesOf(page, 'recommendations');
}

async function categoriesOf(page: Page, list: string): Promise<string[]> {
  const cards = cardsIn(page, list);
  const count = await cards.count();
  const categories: string[] = [];
  for (let i = 0; i < count; i++) categories.push((await cards.nth(i).getAttribute('data-category')) ?? '');
  return categories;
}

describeInBrowser('demo page', () => {
  const savedEnv = { ...process.env };
  const dataDir = mkdtempSync(join(tmpdir(), 'lookalike-e2e-'));
  const pageErrors: string[] = [];
  let app: LocalApp | undefined;
  let browser: Browser | undefined;
  let page: Page;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`CI runs the browser tests: no Chromium at ${CHROMIUM}`);
    const sharedDynamoDb = process.env.LOOKALIKE_DYNAMODB_ENDPOINT || undefined;
    [app, browser] = await Promise.all([
      startLocalApp({
        dataDir,
        apiPort: 0,
        staticDir: join(__dirname, '..', '..', 'infra', 'local', 'demo'),
        extraRoutes: [openApiRoute(), localCatalogueRoute()],
        embedConcurrency: 2,
        // Trending and complements are read through a per-instance aggregate cache (30 s by default):
        // a second, so the page shows a new trend or co-purchase within the test's patience.
        environment: { [ENV.AGGREGATE_CACHE_MS]: '1000' },
        ...(sharedDynamoDb
          ? { dynamoEndpoint: sharedDynamoDb, tablePrefix: `e2e-${randomBytes(4).toString('hex')}-` }
          : {}),
      }),
      chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS }),
    ]);
    await uploadCatalogue(app);
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(message.text());
    });
  }, 150_000);

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
    Object.assign(process.env, savedEnv);
  }, 60_000);

  it('a new user who likes three items of a category is recommended mostly that category', async () => {
    await page.goto(`${app?.url}/`);
    await cardsIn(page, 'catalogue').first().waitFor();
    expect(await cardsIn(page, 'catalogue').count()).toBe(catalogue.length);
    expect(await page.getByRole('link', { name: 'Apache License 2.0' }).count()).toBe(1);

    await page.getByRole('button', { name: 'New user' }).click();
    const userId = (await page.locator('#current-user').textContent()) ?? '';
    expect(userId).toMatch(/^shopper-/);
    await page.locator('#recommendations[aria-busy="false"]').waitFor();
    expect(await page.locator('#strategy').textContent()).toMatch(/Popular/);

    await page.getByLabel('Category').selectOption(CATEGORY);
    await page
      .locator(`#catalogue > li:not([data-category="${CATEGORY}"])`)
      .first()
      .waitFor({ state: 'detached' });
    await cardsIn(page, 'catalogue').first().waitFor();
    expect(await cardsIn(page, 'catalogue').count()).toBe(12);
    expect(await page.getByRole('button', { name: 'Show more' }).isVisible()).toBe(false);
    const liked: string[] = [];
    for (let i = 0; i < 3; i++) {
      const item = cardsIn(page, 'catalogue').nth(i * 3);
      liked.push((await item.locator('.title').textContent()) ?? '');
      const like = item.getByRole('button', { name: /^Like / });
      // The last one by keyboard: the page must be usable without a mouse.
      if (i === 2) {
        await like.focus();
        await page.keyboard.press('Enter');
      } else {
        await like.click();
      }
      await page.locator(`#recommendations[data-profile-events="${i + 1}"][aria-busy="false"]`).waitFor();
    }

    const categories = await categoriesOf(page, 'recommendations');
    expect(categories).toHaveLength(10);
    expect(categories.filter((category) => category === CATEGORY).length).toBeGreaterThanOrEqual(7);
    const reasons = await page.locator('#recommendations .reason').allTextContents();
    expect(reasons.some((reason) => liked.some((title) => reason === `because you liked ${title}`))).toBe(
      true,
    );
    expect(await page.locator('#strategy').textContent()).toMatch(/Based on what you liked/);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'demo.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('shows items that look like an item, and like an uploaded image', async () => {
    const first = cardsIn(page, 'catalogue').first();
    const title = (await first.locator('.title').textContent()) ?? '';
    await first.getByRole('button', { name: `More like ${title}` }).click();
    await page.getByRole('heading', { name: `More like ${title}` }).waitFor();
    const similar = await categoriesOf(page, 'results');
    expect(similar).toHaveLength(10);
    expect(await page.locator('#results .reason').first().textContent()).toBe(`looks like ${title}`);

    const query = catalogue.find((image) => image.metadata.category === 'animal-mammal');
    if (!query) throw new Error('the demo catalogue has no animal-mammal images');
    await page.locator('#search-file').setInputFiles(query.file);
    await page.getByRole('heading', { name: /^Looks like / }).waitFor();
    // The very image of an item finds that item first.
    const top = await cardsIn(page, 'results').first().locator('.title').textContent();
    expect(top).toBe(query.metadata.title);
    expect(pageErrors).toEqual([]);
  }, 30_000);

  it('is accessible: labelled controls, alt text, a live recommendations region', async () => {
    const images = page.locator('img:visible');
    for (let i = 0; i < (await images.count()); i++) {
      expect(await images.nth(i).getAttribute('alt')).toBeTruthy();
    }
    expect(await page.locator('#recommendations').getAttribute('aria-live')).toBe('polite');
    for (const label of ['Shopping as', 'Search by image', 'Category']) {
      expect(await page.getByLabel(label, { exact: true }).count()).toBe(1);
    }
    const buttonTexts = await page.locator('button:visible').allTextContents();
    expect(buttonTexts.length).toBeGreaterThan(100);
    expect(buttonTexts.filter((text) => text.trim() === '')).toEqual([]);
  });

  it('the admin panel shows the API error code and message of a rule the API refuses', async () => {
    await page.goto(`${app?.url}/`);
    await page.getByRole('button', { name: 'Merchandising rules' }).click();
    const panel = page.getByRole('region', { name: 'Merchandising rules' });
    await panel.getByText('No rules yet.').waitFor();

    await panel.getByLabel('Name').fill('Bad placement');
    await panel.getByLabel('Categories').fill(CATEGORY);
    expect(await panel.getByLabel('Placements').inputValue()).toBe('*');
    await panel.getByLabel('Placements').fill('Home Page');
    await panel.getByRole('button', { name: 'Create rule' }).click();

    const status = panel.getByRole('status');
    await status.filter({ hasText: 'Could not create' }).waitFor();
    expect(await status.textContent()).toMatch(
      /^Could not create Bad placement: invalid_rule: placements\.0: .+ \(400\)$/,
    );
    expect(await status.getAttribute('class')).toContain('error');
    expect(await panel.getByText('No rules yet.').isVisible()).toBe(true);
    // The browser reports the refused request itself; nothing else may have gone wrong.
    expect(pageErrors.filter((message) => !message.includes('status of 400'))).toEqual([]);
    pageErrors.length = 0;
    await page.getByRole('button', { name: 'Merchandising rules' }).click();
    expect(await panel.isVisible()).toBe(false);
  }, 30_000);

  it('an admin boosts a category in the admin panel: it rises in a personal list, and the rule can be ended', async () => {
    // Arrange: a shopper whose list is mostly one category, and a category below its top.
    await page.goto(`${app?.url}/`);
    const before = await newShopperWhoLikes(page, CATEGORY);
    expect(before).toHaveLength(10);
    const others = [...new Set(before.filter((category) => category !== before[0]))];
    expect(others.length).toBeGreaterThan(0);
    // The one shown lowest: the most room to rise.
    const boosted = others.reduce((lowest, category) =>
      rankOf(before, category) > rankOf(before, lowest) ? category : lowest,
    );
    const name = `Feature ${boosted}`;

    // Act: create the boost through the panel.
    await page.getByRole('button', { name: 'Merchandising rules' }).click();
    const panel = page.getByRole('region', { name: 'Merchandising rules' });
    // Each kind shows its own fields.
    await panel.getByLabel('Kind').selectOption('pin');
    expect(await panel.getByLabel('Item id').isVisible()).toBe(true);
    expect(await panel.getByLabel('Categories').isVisible()).toBe(false);
    await panel.getByLabel('Kind').selectOption('boost');
    await panel.getByLabel('Name').fill(name);
    await panel.getByLabel('Categories').fill(boosted);
    await panel.getByLabel('Factor').fill('10');
    await panel.getByLabel('Placements').fill('*');
    expect(await panel.getByLabel('Item id').isVisible()).toBe(false);
    await panel.getByRole('button', { name: 'Create rule' }).click();

    const row = panel.locator('#rules > tr[data-rule-id]');
    await row.filter({ hasText: name }).waitFor();
    expect(await row.count()).toBe(1);
    expect(await row.locator('th, td').allTextContents()).toEqual([
      name,
      'boost',
      `scores × 10 for category ${boosted}`,
      '*',
      'active',
      '1',
      'EndDelete',
    ]);
    expect(await panel.getByRole('status').textContent()).toBe(`Created ${name} (active, version 1).`);

    // The recommend function reads rules at most 4 s old: refresh the list until it shows the boost.
    let after = before;
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await page.waitForTimeout(500)) {
      await page.getByRole('button', { name: 'Refresh recommendations' }).click();
      await page.locator('#recommendations[aria-busy="false"]').waitFor();
      after = await categoriesOf(page, 'recommendations');
      if (rankOf(after, boosted) < rankOf(before, boosted)) break;
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    const top = await page.locator('#recommendations').boundingBox();
    const bottom = await panel.boundingBox();
    if (!top || !bottom) throw new Error('the recommendations or the rules panel is not shown');
    await page.screenshot({
      path: join(ARTIFACTS, 'demo-rules.png'),
      fullPage: true,
      clip: { x: 0, y: 0, width: 1280, height: bottom.y + bottom.height + 16 },
    });

    // End it: the panel sends endsAt now with the version it read.
    await panel.getByRole('button', { name: `End ${name}` }).click();
    await panel.locator('#rules > tr[data-status="ended"]').waitFor();
    expect(await row.locator('td').allTextContents()).toEqual([
      'boost',
      `scores × 10 for category ${boosted}`,
      '*',
      'ended',
      '2',
      'Delete',
    ]);
    expect(await panel.getByRole('status').textContent()).toBe(`Ended ${name} (ended, version 2).`);
    await panel.getByRole('button', { name: `Delete ${name}` }).click();
    await panel.getByText('No rules yet.').waitFor();
    expect(await panel.getByRole('status').textContent()).toBe(`Deleted ${name}.`);
    expect(pageErrors).toEqual([]);

    // Last, as it needs the recommend function to apply rules: while the rule was active, the boosted
    // category's first item came higher in the list than before.
    expect(rankOf(after, boosted)).toBeLessThan(rankOf(before, boosted));
  }, 60_000);

  it('placements: buy again, recently viewed, trending and "goes with this" follow what shoppers do', async () => {
    await page.goto(`${app?.url}/`);
    await cardsIn(page, 'catalogue').first().waitFor();
    // Two items of two other categories than the ones liked above (complements are of other categories).
    const pick = async (category: string) => {
      const card = page.locator(`#catalogue > li[data-category="${category}"]`).last();
      return (await card.locator('.title').textContent()) ?? '';
    };
    const categories = [...new Set(await categoriesOf(page, 'catalogue'))].filter((c) => c !== CATEGORY);
    const [categoryA, categoryB] = categories;
    if (!categoryA || !categoryB) throw new Error('the demo catalogue has fewer than three categories');
    const a = await pick(categoryA);
    const b = await pick(categoryB);

    // Two shoppers each buy A, then B.
    for (let shopper = 0; shopper < 2; shopper++) {
      await page.getByRole('button', { name: 'New user' }).click();
      await page.locator('#recommendations[data-profile-events="0"][aria-busy="false"]').waitFor();
      await page.locator('#buy-again[aria-busy="false"]').getByText('Nothing bought yet.').waitFor();
      await buy(page, a, 0);
      await buy(page, b, 1);
      // Buy again: the shopper's purchases, newest first.
      const bought = await pollList(
        page,
        'buy-again',
        async () => {},
        (titles) => titles.length === 2,
        5_000,
      );
      expect(bought).toEqual([b, a]);
    }

    // Opening "More like this" on A is a view: A leads "Recently viewed".
    await page
      .locator('#catalogue')
      .getByRole('button', { name: `More like ${a}`, exact: true })
      .click();
    await page.getByRole('heading', { name: `More like ${a}` }).waitFor();
    await page.locator('#recently-viewed > li[data-item-id]').first().waitFor();
    expect((await titlesOf(page, 'recently-viewed'))[0]).toBe(a);

    // Four purchases within a minute, on items nobody engaged with before: both trend.
    const trending = await pollList(
      page,
      'trending',
      () => page.getByRole('button', { name: 'Refresh trending' }).click(),
      (titles) => titles.includes(a) && titles.includes(b),
      10_000,
    );
    expect(trending).toEqual(expect.arrayContaining([a, b]));
    const trendingA = cardsIn(page, 'trending').filter({
      has: page.getByRole('heading', { name: a, exact: true }),
    });
    expect(await trendingA.locator('.reason').textContent()).toBe('trending now');

    // The Events stream's consumer counts A and B bought together, off the request path: "Goes with
    // this" on A shows B once it has (re-opening A's "More like this" reloads the strip).
    const goesWith = await pollList(
      page,
      'complements',
      () =>
        page
          .locator('#catalogue')
          .getByRole('button', { name: `More like ${a}`, exact: true })
          .click(),
      (titles) => titles.includes(b),
      15_000,
    );
    expect(goesWith).toContain(b);
    const complementB = cardsIn(page, 'complements').filter({
      has: page.getByRole('heading', { name: b, exact: true }),
    });
    expect(await complementB.locator('.reason').textContent()).toBe(`bought together with ${a}`);
    expect(await page.getByRole('heading', { name: 'Goes with this' }).isVisible()).toBe(true);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'demo-placements.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  }, 90_000);

  it('your tastes: muting and forgetting a taste changes the "for you" list at once', async () => {
    await page.goto(`${app?.url}/`);
    await cardsIn(page, 'catalogue').first().waitFor();
    await newShopperWhoLikes(page, CATEGORY);
    // A second taste: three items of another category.
    const other = (
      await page
        .locator('#category option')
        .evaluateAll((options) => options.map((option) => option.getAttribute('value') ?? ''))
    ).find((value) => value !== '' && value !== CATEGORY) as string;
    await page.getByLabel('Category', { exact: true }).selectOption(other);
    await page
      .locator(`#catalogue > li:not([data-category="${other}"])`)
      .first()
      .waitFor({ state: 'detached' });
    for (let i = 0; i < 3; i++) {
      await cardsIn(page, 'catalogue')
        .nth(i * 3)
        .getByRole('button', { name: /^Like / })
        .click();
      await page.locator(`#recommendations[data-profile-events="${i + 4}"][aria-busy="false"]`).waitFor();
    }
    let events = 6;
    const tastes = page.locator('#tastes');
    const tastesOf = async () => {
      await page.locator('#tastes[aria-busy="false"]').waitFor();
      return tastes.locator('> li[data-interest-id]').evaluateAll((items) =>
        items.map((item) => ({
          label: item.getAttribute('data-label'),
          muted: item.getAttribute('data-muted') === 'true',
          images: item.querySelectorAll('img').length,
        })),
      );
    };
    // The strip refreshes after each event; wait until it shows both tastes.
    for (const label of [CATEGORY, other])
      await tastes.locator(`> li[data-label="${label}"]`).first().waitFor();
    const shown = await tastesOf();
    expect(shown.map((t) => t.label)).toEqual(expect.arrayContaining([CATEGORY, other]));
    for (const taste of shown) expect(taste.images).toBeGreaterThanOrEqual(1);
    expect(await tastes.locator('> li .title').first().textContent()).toMatch(/ · \d+%$/);
    const count = (categories: string[]) => categories.filter((c) => c === CATEGORY).length;
    const before = count(await categoriesOf(page, 'recommendations'));
    expect(before).toBeGreaterThanOrEqual(3);

    // Mute every taste labelled with the category: its items leave the list.
    const edit = async (action: 'Mute' | 'Forget') => {
      for (;;) {
        const taste = tastes
          .locator(`> li[data-label="${CATEGORY}"]${action === 'Mute' ? '[data-muted="false"]' : ''}`)
          .first();
        if ((await taste.count()) === 0) return;
        await taste.getByRole('button', { name: new RegExp(`^${action} `) }).click();
        events += 1;
        await page.locator(`#recommendations[data-profile-events="${events}"][aria-busy="false"]`).waitFor();
        await page.locator('#tastes[aria-busy="false"]').waitFor();
      }
    };
    await edit('Mute');
    const whileMuted = await tastesOf();
    expect(whileMuted.filter((t) => t.label === CATEGORY).every((t) => t.muted)).toBe(true);
    expect(await tastes.locator(`> li[data-label="${CATEGORY}"] .hint`).first().textContent()).toMatch(
      /^Muted until /,
    );
    const muted = count(await categoriesOf(page, 'recommendations'));
    expect(muted).toBeLessThan(before);
    expect(await page.getByRole('status').first().textContent()).toBe(
      `Muted the ${CATEGORY} taste for a day. Your recommendations are updated.`,
    );

    mkdirSync(ARTIFACTS, { recursive: true });
    // The page down to the tastes strip, in page coordinates (the clicks above scrolled it).
    const box = await tastes.boundingBox();
    if (!box) throw new Error('the tastes strip is not shown');
    const bottom = box.y + box.height + Number(await page.evaluate('window.scrollY'));
    await page.screenshot({
      path: join(ARTIFACTS, 'demo-tastes.png'),
      fullPage: true,
      clip: { x: 0, y: 0, width: 1280, height: bottom + 16 },
    });

    // Forget it: it leaves the strip, and its items stay out of the list.
    await edit('Forget');
    const after = await tastesOf();
    expect(after.map((t) => t.label)).not.toContain(CATEGORY);
    expect(after.map((t) => t.label)).toContain(other);
    expect(count(await categoriesOf(page, 'recommendations'))).toBeLessThan(before);
    expect(pageErrors).toEqual([]);
  }, 90_000);
});
