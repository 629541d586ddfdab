import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { LRUCache } from 'lru-cache';
import type { CoPurchases, StoredEvent } from '../../app/ports';
import { type BasketEvent, basketPartners } from '../../domain/complements';
import { jitteredTtl } from './aggregate-cache';
import type { CounterIncrement } from './stats-counters';

/**
 * Co-purchase counters in the Stats table (issue 22), written by the Events stream's consumer beside
 * co-engagement, off the request path (best effort: a user's transaction never waits for them):
 * - `cp#<itemId>`, sk the other item: items bought or carted by the same user within the window;
 * - `cpc#<category>`, sk the other category: how often items of the two were bought together;
 * - `cpi#<category>\u0000<other category>`, sk an item of the other category: what those buyers chose.
 * Weights are the later event's frame weight (as popularity's), so their ratios are decayed ones.
 */
export const coPurchaseKey = (itemId: string) => `cp#${itemId}`;
export const categoryPairKey = (category: string) => `cpc#${category}`;
export const boughtWithKey = (category: string, partner: string) => `cpi#${category}\u0000${partner}`;

/** The counter increments one basket event forms with its earlier partners, both directions. */
export function coPurchaseIncrements(
  event: Pick<StoredEvent, 'itemId' | 'category' | 'basketWeight'>,
  partners: readonly BasketEvent[],
): CounterIncrement[] {
  const weight = event.basketWeight;
  if (weight === undefined || !(weight > 0)) return [];
  return partners.flatMap((partner) => {
    const increments: CounterIncrement[] = [
      { pk: coPurchaseKey(event.itemId), sk: partner.itemId, weight },
      { pk: coPurchaseKey(partner.itemId), sk: event.itemId, weight },
    ];
    if (event.category !== undefined && partner.category !== undefined)
      increments.push(
        { pk: categoryPairKey(event.category), sk: partner.category, weight },
        { pk: categoryPairKey(partner.category), sk: event.category, weight },
        { pk: boughtWithKey(event.category, partner.category), sk: partner.itemId, weight },
        { pk: boughtWithKey(partner.category, event.category), sk: event.itemId, weight },
      );
    return increments;
  });
}

/** A user's basket events, read by the consumer: the Events table's Query of the user, basket events only. */
export class BasketHistory {
  private readonly documents: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly eventsTable: string,
  ) {
    this.documents = DynamoDBDocumentClient.from(client);
  }

  async of(userId: string): Promise<BasketEvent[]> {
    const events: BasketEvent[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.documents.send(
        new QueryCommand({
          TableName: this.eventsTable,
          KeyConditionExpression: 'userId = :u',
          FilterExpression: 'attribute_exists(basketWeight)',
          ProjectionExpression: 'eventId, itemId, #at, epoch, category',
          ExpressionAttributeNames: { '#at': 'at' },
          ExpressionAttributeValues: { ':u': userId },
          ExclusiveStartKey: startKey,
        }),
      );
      events.push(...((page.Items ?? []) as BasketEvent[]));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return events;
  }

  /** The co-purchase increments of each basket event among `events`, by the key given with it. */
  async incrementsOf(
    events: ReadonlyArray<{ key: string; event: StoredEvent }>,
  ): Promise<Map<string, CounterIncrement[]>> {
    const baskets = events.filter(({ event }) => event.basketWeight !== undefined && event.basketWeight > 0);
    const histories = new Map<string, Promise<BasketEvent[]>>();
    const historyOf = (userId: string) => {
      let history = histories.get(userId);
      if (!history) {
        history = this.of(userId);
        histories.set(userId, history);
      }
      return history;
    };
    const found = new Map<string, CounterIncrement[]>();
    await Promise.all(
      baskets.map(async ({ key, event }) => {
        const partners = basketPartners(event, await historyOf(event.userId));
        found.set(key, coPurchaseIncrements(event, partners));
      }),
    );
    return found;
  }
}

/** Where recommend reads the co-purchase counters, each source's rows reused for a few seconds. */
export class CoPurchaseReader implements CoPurchases {
  private readonly documents: DynamoDBDocumentClient;
  private readonly rows: LRUCache<string, Map<string, number>, number>;

  constructor(
    client: DynamoDBClient,
    private readonly statsTable: string,
    /** How long a partition's rows are reused. @default 30 s */
    private readonly ttlMs = 30_000,
  ) {
    this.documents = DynamoDBDocumentClient.from(client);
    this.rows = new LRUCache({
      max: 10_000,
      ttl: Math.max(1, ttlMs),
      fetchMethod: (pk, _stale, { context }) => this.query(pk, context),
    });
  }

  with(itemId: string): Promise<Map<string, number>> {
    return this.read(coPurchaseKey(itemId), 200);
  }

  categoriesWith(category: string): Promise<Map<string, number>> {
    return this.read(categoryPairKey(category), 1000);
  }

  async itemsBoughtWith(category: string, partner: string): Promise<Map<string, number>> {
    const rows = await this.read(boughtWithKey(category, partner), 1000);
    return new Map([...rows].sort(([, a], [, b]) => b - a).slice(0, 50));
  }

  private async read(pk: string, limit: number): Promise<Map<string, number>> {
    return (await this.rows.fetch(pk, { ttl: jitteredTtl(this.ttlMs), context: limit })) ?? new Map();
  }

  private async query(pk: string, limit: number): Promise<Map<string, number>> {
    const rows = new Map<string, number>();
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.documents.send(
        new QueryCommand({
          TableName: this.statsTable,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': pk },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const row of (page.Items ?? []) as Array<{ sk: string; weight: number }>)
        rows.set(row.sk, row.weight);
      startKey = page.LastEvaluatedKey;
    } while (startKey && rows.size < limit);
    return rows;
  }
}
