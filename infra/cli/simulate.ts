/**
 * `npm run simulate -- --users 200 --minutes 5 [--url http://127.0.0.1:3000] [--seed 1]`: traffic
 * for the local stack (`npm start`) over HTTP, so that attribution's figures (GET /admin/metrics,
 * the demo page's charts) are real ones. Each simulated user likes one or two of the catalogue's
 * categories: served a list (home, product or email placement), they click its items of those
 * categories far more often than the others, put some clicks in the cart and buy some of those,
 * each event naming the list and position it came from; now and then they buy something no list
 * showed them (an organic event). Tokens come from the local issuer's `/local/token`.
 */
import { Command, InvalidArgumentError } from 'commander';
import { seededUniform } from '../../functions/domain/seeded-random';

export interface SimulationOptions {
  url: string;
  users: number;
  /** How long the traffic runs (fractions allowed). */
  minutes: number;
  seed?: number;
  /** Requests in flight at once. */
  concurrency?: number;
  log?: (line: string) => void;
}

export interface SimulationSummary {
  lists: number;
  events: number;
  clicks: number;
  purchases: number;
  failures: number;
}

type ListItem = { itemId: string; category?: string };
type List = { recommendationId: string; items: ListItem[] };

/** How likely a click is on an item of a user's taste, and on any other. */
const CLICK_IN_TASTE = 0.35;
const CLICK_OTHERWISE = 0.03;
const CART_AFTER_CLICK = 0.3;
const PURCHASE_AFTER_CART = 0.5;
const ORGANIC_PURCHASE = 0.05;

export async function simulate(options: SimulationOptions): Promise<SimulationSummary> {
  const random = seededUniform(options.seed ?? 1);
  const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)] as T;
  const base = options.url.replace(/\/$/, '');
  const tokens = new Map<string, string>();
  const token = async (userId: string) => {
    const known = tokens.get(userId);
    if (known) return known;
    const response = await fetch(`${base}/local/token?${new URLSearchParams({ userId })}`);
    if (!response.ok)
      throw new Error(`no token for ${userId} (${response.status}): is this the local stack?`);
    const body = (await response.json()) as { token: string };
    tokens.set(userId, body.token);
    return body.token;
  };
  const call = async (userId: string, path: string, body?: unknown) => {
    const response = await fetch(`${base}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: {
        authorization: `Bearer ${await token(userId)}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
    return response.json() as Promise<unknown>;
  };

  const catalogue = (await (await fetch(`${base}/local/catalogue?limit=500`)).json()) as {
    items: ListItem[];
    categories: Array<{ category: string }>;
  };
  const categories = catalogue.categories.map((c) => c.category);
  if (catalogue.items.length === 0 || categories.length === 0)
    throw new Error('the catalogue is empty: start the stack with its demo catalogue (npm start)');
  const run = randomSuffix(random);
  const users = Array.from({ length: options.users }, (_, i) => ({
    userId: `sim-${run}-${i}`,
    tastes: new Set(random() < 0.5 ? [pick(categories)] : [pick(categories), pick(categories)]),
  }));
  const summary: SimulationSummary = { lists: 0, events: 0, clicks: 0, purchases: 0, failures: 0 };
  let sequence = 0;
  const until = Date.now() + options.minutes * 60_000;

  const visit = async () => {
    const user = pick(users);
    const placement = pick(['home', 'home', 'product', 'email'] as const);
    const path =
      placement === 'product'
        ? `/items/${encodeURIComponent(pick(catalogue.items).itemId)}/similar?limit=8&placement=product`
        : `/users/${encodeURIComponent(user.userId)}/recommendations?limit=8&placement=${placement}`;
    const list = (await call(user.userId, path)) as List;
    summary.lists++;
    const events: unknown[] = [];
    const event = (itemId: string, type: string, context?: object) => {
      events.push({
        eventId: `${user.userId}-${++sequence}`,
        userId: user.userId,
        itemId,
        type,
        ...(context ? { context } : {}),
      });
    };
    list.items.forEach((item, i) => {
      const liked = item.category !== undefined && user.tastes.has(item.category);
      if (random() >= (liked ? CLICK_IN_TASTE : CLICK_OTHERWISE)) return;
      const context = { recommendationId: list.recommendationId, position: i + 1 };
      event(item.itemId, 'click', context);
      summary.clicks++;
      if (random() < CART_AFTER_CLICK) {
        event(item.itemId, 'add_to_cart', context);
        if (random() < PURCHASE_AFTER_CART) {
          event(item.itemId, 'purchase', context);
          summary.purchases++;
        }
      }
    });
    if (random() < ORGANIC_PURCHASE) {
      const item = pick(catalogue.items.filter((i) => i.category && user.tastes.has(i.category)));
      if (item) event(item.itemId, 'purchase');
    }
    if (events.length > 0) {
      await call(user.userId, '/events', { events });
      summary.events += events.length;
    }
  };

  const worker = async () => {
    while (Date.now() < until) {
      try {
        await visit();
      } catch (error) {
        summary.failures++;
        if (summary.failures <= 3) options.log?.(`a visit failed: ${(error as Error).message}`);
      }
    }
  };
  const progress = setInterval(
    () => options.log?.(`${summary.lists} lists, ${summary.clicks} clicks, ${summary.purchases} purchases`),
    10_000,
  );
  try {
    await Promise.all(Array.from({ length: options.concurrency ?? 4 }, worker));
  } finally {
    clearInterval(progress);
  }
  return summary;
}

const randomSuffix = (random: () => number) => Math.floor(random() * 36 ** 4).toString(36);

const positive = (name: string) => (value: string) => {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) throw new InvalidArgumentError(`${name} must be a number > 0`);
  return parsed;
};

async function main(): Promise<void> {
  const program = new Command()
    .name('npm run simulate --')
    .description('Drive the local stack with simulated shoppers whose clicks follow their tastes')
    .option('--users <n>', 'simulated users', positive('--users'), 200)
    .option('--minutes <m>', 'how long to run', positive('--minutes'), 5)
    .option('--url <url>', 'the local API', `http://127.0.0.1:${process.env.LOOKALIKE_API_PORT ?? 3000}`)
    .option('--seed <n>', 'random seed (users, tastes, clicks)', positive('--seed'), 1)
    .option('--concurrency <n>', 'visits in flight at once', positive('--concurrency'), 4)
    .parse();
  const options = program.opts<{
    users: number;
    minutes: number;
    url: string;
    seed: number;
    concurrency: number;
  }>();
  const summary = await simulate({
    ...options,
    users: Math.round(options.users),
    concurrency: Math.round(options.concurrency),
    log: (line) => console.log(line),
  });
  console.log(JSON.stringify(summary));
  console.log(`Attribution: ${options.url}/ (Attribution metrics) or GET ${options.url}/admin/metrics`);
  if (summary.lists === 0) process.exit(1);
}

if (require.main === module)
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
