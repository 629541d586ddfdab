import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, paginateScan } from '@aws-sdk/lib-dynamodb';
import type { EngagementLog } from '../../app/learned-similarity-gate';
import { isItemEvent, isStale, type StoredEvent } from '../../app/ports';
import type { EngagementEvent } from '../../domain/learned-similarity';

/** Scan segments read at once: a daily job's read, spread over a few partitions. */
const SEGMENTS = 4;

async function scanAll<T>(
  documents: DynamoDBDocumentClient,
  input: {
    TableName: string;
    ProjectionExpression: string;
    ExpressionAttributeNames: Record<string, string>;
  },
): Promise<T[]> {
  const pages = await Promise.all(
    Array.from({ length: SEGMENTS }, async (_, segment) => {
      const rows: T[] = [];
      for await (const page of paginateScan(
        { client: documents },
        { ...input, Segment: segment, TotalSegments: SEGMENTS },
      ))
        rows.push(...((page.Items ?? []) as T[]));
      return rows;
    }),
  );
  return pages.flat();
}

/**
 * The trainer's view of the raw events: a parallel scan of the Events table, less what an erasure
 * made stale (an event of an earlier epoch than its user's profile) and what has expired but not yet
 * been removed by TTL. Only user, item, type and time are read; the user ids stay in this process.
 */
export class EventsTableLog implements EngagementLog {
  private readonly documents: DynamoDBDocumentClient;

  constructor(
    dynamo: DynamoDBClient,
    private readonly tables: { readonly events: string; readonly profiles: string },
    private readonly now: () => number = Date.now,
  ) {
    this.documents = DynamoDBDocumentClient.from(dynamo);
  }

  async currentEvents(): Promise<EngagementEvent[]> {
    const [events, profiles] = await Promise.all([
      scanAll<Pick<StoredEvent, 'userId' | 'itemId' | 'type' | 'at' | 'epoch' | 'expiresAt'>>(
        this.documents,
        {
          TableName: this.tables.events,
          ProjectionExpression: '#u, #i, #t, #a, #e, #x',
          ExpressionAttributeNames: {
            '#u': 'userId',
            '#i': 'itemId',
            '#t': 'type',
            '#a': 'at',
            '#e': 'epoch',
            '#x': 'expiresAt',
          },
        },
      ),
      scanAll<{ userId: string; epoch?: number }>(this.documents, {
        TableName: this.tables.profiles,
        ProjectionExpression: '#u, #e',
        ExpressionAttributeNames: { '#u': 'userId', '#e': 'epoch' },
      }),
    ]);
    const epochs = new Map(profiles.map((row) => [row.userId, row.epoch ?? 0]));
    const nowSeconds = Math.floor(this.now() / 1000);
    return events
      .filter(
        (event) =>
          typeof event.itemId === 'string' &&
          !isStale(event, epochs.get(event.userId) ?? 0) &&
          !(typeof event.expiresAt === 'number' && event.expiresAt <= nowSeconds),
      )
      .flatMap((event) =>
        isItemEvent(event)
          ? [{ userId: event.userId, itemId: event.itemId, type: event.type, at: event.at }]
          : [],
      );
  }
}
