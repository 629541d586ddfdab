import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import type { AttributionEraser, DailyMetricRow, DailyMetrics, StoredEvent } from '../../app/ports';
import {
  addSums,
  attributeEvent,
  type CellCounts,
  type CellKey,
  type CellSums,
  cellId,
  emptySums,
  impressionsOf,
  type Outcome,
  type ServedList,
  sumsDelta,
} from '../../domain/attribution';
import type { ImpressionSource, Strategy } from '../../domain/impressions';
import type { EventType } from '../../domain/interest-profile';
import { batchGetAll } from './batch-get';
import { acceptedEvent } from './co-engagement-counters';
import { erasePartition } from './erase-partition';
import type { ImpressionRow } from './impression-log';
import { CounterConflict, MAX_TRANSACTION_ACTIONS, transactionGroups } from './stats-counters';
import { appliedBefore } from './transaction-cancel';

/**
 * Attribution's counters (issue 25), in the Stats table, fed by the Impressions stream (impressions
 * per cell) and the Events stream (clicks, carts, purchases and revenue joined to their list):
 * - a daily row per cell, pk `metrics#<day>`, sk `cell#<placement>#<strategy>#<source>`, holding
 *   the cell's per-user sums (see `CellSums`), and the day's `organic` and `unattributed` rows;
 * - a user's counts per cell, pk `mu#<userId>`, sk `<day>#<placement>#<strategy>#<source>`, with a
 *   version: each change of a user's counts adds the change of the sums' terms to the daily row, in
 *   one transaction with the user row's conditional put and a marker per stream record that it was
 *   counted (so a redelivered record counts once). The user rows are the only ones with a user id:
 *   an erasure deletes them (`eraseUser`); the daily rows hold sums over users only.
 */
export const METRICS_PK_PREFIX = 'metrics#';
export const USER_CELL_PK_PREFIX = 'mu#';
/** Days a user's cell is kept after its day: as long as the lists it counts (the impressions' TTL) and a day. */
export const USER_CELL_TTL_DAYS = 31;

export const metricsKey = (day: string) => `${METRICS_PK_PREFIX}${day}`;
const cellSortKey = (cell: CellKey) => `cell#${cell.placement}#${cell.strategy}#${cell.source}`;

/** One user's change of counts in a cell. */
export interface UserCellChange {
  userId: string;
  cell: CellKey;
  delta: Partial<CellCounts>;
}

/** A count without a user (organic and unattributed events), added to a daily row as is. */
export interface PlainIncrement {
  day: string;
  row: 'organic' | 'unattributed';
  add: Partial<Record<Outcome | 'revenue', number>>;
}

/** What one stream record adds, and the id that marks it counted. */
export interface RecordChanges {
  recordId: string;
  changes: UserCellChange[];
  plain: PlainIncrement[];
}

interface StoredCell {
  counts: CellCounts;
  version: number;
}

interface UserCellRow extends CellCounts {
  pk: string;
  sk: string;
  version: number;
  expiresAt: number;
}

const userCellKey = (userId: string, cell: CellKey) => ({
  pk: `${USER_CELL_PK_PREFIX}${userId}`,
  sk: cellId(cell),
});
const keyString = ({ pk, sk }: { pk: string; sk: string }) => `${pk}\u0000${sk}`;

const MAX_ATTEMPTS = 6;
const MARKER_TTL_SECONDS = 3 * 86_400;

/** The list an impression stream record inserted (a put again, an SDK retry, is a MODIFY: not counted twice). */
export function insertedList(record: DynamoDBRecord): (ServedList & { userId?: string }) | undefined {
  if (record.eventName !== 'INSERT') return undefined;
  const image = record.dynamodb?.NewImage;
  if (!image) return undefined;
  const row = unmarshall(image as Parameters<typeof unmarshall>[0]) as Partial<ImpressionRow>;
  if (typeof row.servedAt !== 'number' || !Array.isArray(row.items) || typeof row.pk !== 'string')
    return undefined;
  return {
    // Lists served without a user cannot be joined to events (those always name a user): not counted.
    ...(row.pk.startsWith('anonymous#') ? {} : { userId: row.pk }),
    placement: row.placement ?? 'unknown',
    strategy: row.strategy as Strategy,
    servedAt: row.servedAt,
    items: row.items,
    ...(typeof row.expiresAt === 'number' ? { expiresAt: row.expiresAt } : {}),
  };
}

const recordId = (record: DynamoDBRecord) => record.eventID ?? record.dynamodb?.SequenceNumber ?? '';

/** What a batch counted, for the metrics (records counted before, redeliveries, are left out). */
export interface AttributionTally {
  /** Per cell: impressions and outcomes. */
  cells: Array<{ cell: Omit<CellKey, 'day'>; counts: Partial<CellCounts> }>;
  organic: number;
  unattributed: number;
}

export class AttributionCounters implements AttributionEraser, DailyMetrics {
  private readonly documents: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly statsTable: string,
    /** The Impressions table: the events consumer reads the list an event names. */
    private readonly impressionsTable?: string,
  ) {
    this.documents = DynamoDBDocumentClient.from(client);
  }

  /** The Impressions stream's records: each list's items, per source, in its user's cells. */
  async countImpressions(records: readonly DynamoDBRecord[], now = Date.now()) {
    const changes = records.map((record): RecordChanges => {
      const list = insertedList(record);
      const userId = list?.userId;
      return {
        recordId: recordId(record),
        changes:
          list && userId
            ? impressionsOf(list).map(({ cell, impressions }) => ({ userId, cell, delta: { impressions } }))
            : [],
        plain: [],
      };
    });
    return this.countBatch(records, changes, 'attribution-impressions', now);
  }

  /**
   * The Events stream's records: each accepted event of a counted type joined to the list it names
   * (one strongly consistent BatchGetItem of the lists the batch names, by user and id: another
   * user's list is not found), or counted organic or unattributed.
   */
  async countEvents(records: readonly DynamoDBRecord[], now = Date.now()) {
    const events = records.map((record) => ({ record, event: acceptedEvent(record) }));
    const named = events.flatMap(({ event }) =>
      event?.recommendationId ? [{ pk: event.userId, sk: event.recommendationId }] : [],
    );
    const lists = new Map<string, ServedList>();
    if (named.length > 0 && this.impressionsTable) {
      const unique = [...new Map(named.map((key) => [keyString(key), key])).values()];
      const rows = await batchGetAll<ImpressionRow>(this.documents, this.impressionsTable, unique, {
        ConsistentRead: true,
        ProjectionExpression: 'pk, sk, placement, strategy, servedAt, #items, expiresAt',
        ExpressionAttributeNames: { '#items': 'items' },
      });
      for (const row of rows) lists.set(keyString(row), row);
    }
    const changes = events.map(({ record, event }): RecordChanges => {
      const none = { recordId: recordId(record), changes: [], plain: [] };
      if (!event) return none;
      const list = event.recommendationId
        ? lists.get(keyString({ pk: event.userId, sk: event.recommendationId }))
        : undefined;
      const attribution = attributeEvent(eventOf(event), list, now);
      if (!attribution) return none;
      const add = {
        [attribution.outcome]: 1,
        ...(attribution.revenue > 0 ? { revenue: attribution.revenue } : {}),
      };
      return attribution.kind === 'attributed'
        ? { ...none, changes: [{ userId: event.userId, cell: attribution.cell, delta: add }] }
        : { ...none, plain: [{ day: attribution.day, row: attribution.kind, add }] };
    });
    return this.countBatch(records, changes, 'attribution-events', now);
  }

  private async countBatch(
    records: readonly DynamoDBRecord[],
    changes: RecordChanges[],
    consumer: string,
    now: number,
  ): Promise<{ tally: AttributionTally; failed: DynamoDBRecord[]; errors: unknown[] }> {
    const byId = new Map(records.map((record) => [recordId(record), record]));
    const tally: AttributionTally = { cells: [], organic: 0, unattributed: 0 };
    const failed: DynamoDBRecord[] = [];
    const errors: unknown[] = [];
    const groups = transactionGroups(changes, (record) => [
      ...record.changes.flatMap(({ userId, cell }) => [
        keyString(userCellKey(userId, cell)),
        `${metricsKey(cell.day)}\u0000${cellSortKey(cell)}`,
      ]),
      ...record.plain.map(({ day, row }) => `${metricsKey(day)}\u0000${row}`),
    ]);
    for (const group of groups) {
      try {
        const applied = await this.applyOnce(group, consumer, now);
        for (const record of group) {
          if (!applied.has(record.recordId)) continue;
          for (const { cell, delta } of record.changes)
            tally.cells.push({
              cell: { placement: cell.placement, strategy: cell.strategy, source: cell.source },
              counts: delta,
            });
          for (const { row, add } of record.plain)
            tally[row] += (add.clicks ?? 0) + (add.carts ?? 0) + (add.purchases ?? 0);
        }
      } catch (error) {
        errors.push(error);
        for (const { recordId: id } of group) failed.push(byId.get(id) as DynamoDBRecord);
      }
    }
    return { tally, failed, errors };
  }

  /**
   * Applies a group of records, each once: reads the user cells they change (strongly consistent),
   * then one transaction of a marker per record, each changed user cell put on its version, and the
   * daily rows' sums added. A marker already there (a redelivery) leaves its record out; a user cell
   * changed meanwhile (the other stream's consumer) or a conflict makes it read and try again.
   * Returns the ids of the records this call applied.
   */
  async applyOnce(
    records: readonly RecordChanges[],
    consumer: string,
    now = Date.now(),
  ): Promise<Set<string>> {
    let pending = records.filter((record) => record.changes.length > 0 || record.plain.length > 0);
    for (let attempt = 1; pending.length > 0; attempt++) {
      const cellKeys = new Map<string, { pk: string; sk: string }>();
      for (const { changes } of pending)
        for (const { userId, cell } of changes) {
          const key = userCellKey(userId, cell);
          cellKeys.set(keyString(key), key);
        }
      const stored = new Map<string, StoredCell>();
      if (cellKeys.size > 0) {
        const rows = await batchGetAll<UserCellRow>(this.documents, this.statsTable, [...cellKeys.values()], {
          ConsistentRead: true,
        });
        for (const row of rows)
          stored.set(keyString(row), {
            version: row.version,
            counts: {
              impressions: row.impressions ?? 0,
              clicks: row.clicks ?? 0,
              carts: row.carts ?? 0,
              purchases: row.purchases ?? 0,
              revenue: row.revenue ?? 0,
            },
          });
      }
      const next = new Map<string, { key: { pk: string; sk: string }; counts: CellCounts; day: string }>();
      const daily = new Map<string, { pk: string; sk: string; sums: CellSums }>();
      const addDaily = (pk: string, sk: string, sums: Partial<CellSums>) => {
        const key = `${pk}\u0000${sk}`;
        const existing = daily.get(key) ?? { pk, sk, sums: emptySums() };
        addSums(existing.sums, sums);
        daily.set(key, existing);
      };
      for (const { changes, plain } of pending) {
        for (const { userId, cell, delta } of changes) {
          const key = userCellKey(userId, cell);
          const id = keyString(key);
          const before = next.get(id)?.counts ?? stored.get(id)?.counts;
          const { after, sums } = sumsDelta(before, delta);
          next.set(id, { key, counts: after, day: cell.day });
          addDaily(metricsKey(cell.day), cellSortKey(cell), sums);
        }
        for (const { day, row, add } of plain) addDaily(metricsKey(day), row, add);
      }
      const markerTtl = Math.ceil(now / 1000) + MARKER_TTL_SECONDS;
      const cells = [...next.entries()];
      const actions = [
        ...pending.map(({ recordId: id }) => ({
          Update: {
            TableName: this.statsTable,
            Key: { pk: `applied#${id}`, sk: consumer },
            UpdateExpression: 'SET expiresAt = :expires',
            ConditionExpression: 'attribute_not_exists(pk)',
            ExpressionAttributeValues: { ':expires': markerTtl },
          },
        })),
        ...cells.map(([id, { key, counts, day }]) => {
          const version = stored.get(id)?.version;
          return {
            Put: {
              TableName: this.statsTable,
              Item: {
                ...key,
                ...counts,
                version: (version ?? 0) + 1,
                expiresAt: Math.ceil(Date.parse(`${day}T00:00:00Z`) / 1000) + USER_CELL_TTL_DAYS * 86_400,
              },
              ...(version === undefined
                ? { ConditionExpression: 'attribute_not_exists(pk)' }
                : { ConditionExpression: 'version = :v', ExpressionAttributeValues: { ':v': version } }),
            },
          };
        }),
        ...[...daily.values()].map(({ pk, sk, sums }) => {
          const entries = Object.entries(sums).filter(
            ([, value]) => typeof value === 'number' && value !== 0,
          );
          const names: Record<string, string> = {};
          const values: Record<string, number> = {};
          entries.forEach(([name, value], i) => {
            names[`#a${i}`] = name;
            values[`:a${i}`] = value as number;
          });
          return {
            Update: {
              TableName: this.statsTable,
              Key: { pk, sk },
              UpdateExpression:
                entries.length > 0
                  ? `ADD ${entries.map((_, i) => `#a${i} :a${i}`).join(', ')}`
                  : 'SET touchedAt = :now',
              ...(entries.length > 0
                ? { ExpressionAttributeNames: names, ExpressionAttributeValues: values }
                : { ExpressionAttributeValues: { ':now': now } }),
            },
          };
        }),
      ];
      if (actions.length > MAX_TRANSACTION_ACTIONS)
        throw new Error(
          `an attribution transaction of ${actions.length} actions (at most ${MAX_TRANSACTION_ACTIONS})`,
        );
      try {
        await this.documents.send(new TransactWriteCommand({ TransactItems: actions }));
        return new Set(pending.map((record) => record.recordId));
      } catch (error) {
        const applied = appliedBefore(error, pending);
        pending = pending.filter((record) => !applied.has(record.recordId));
        if (applied.size === 0 && attempt >= MAX_ATTEMPTS)
          throw new CounterConflict('concurrent updates of the same attribution cells');
        if (applied.size === 0)
          await new Promise((resolve) => setTimeout(resolve, 20 * 2 ** attempt * (0.5 + Math.random())));
      }
    }
    return new Set();
  }

  /** The daily rows of each day: one Query of each day's partition, all at once. */
  async dailyRows(days: readonly string[]): Promise<DailyMetricRow[]> {
    const perDay = await Promise.all(
      days.map(async (day) => {
        const rows: DailyMetricRow[] = [];
        let startKey: Record<string, unknown> | undefined;
        do {
          const page = await this.documents.send(
            new QueryCommand({
              TableName: this.statsTable,
              KeyConditionExpression: 'pk = :pk',
              ExpressionAttributeValues: { ':pk': metricsKey(day) },
              ExclusiveStartKey: startKey,
            }),
          );
          for (const item of page.Items ?? []) {
            const row = dailyRow(day, item);
            if (row) rows.push(row);
          }
          startKey = page.LastEvaluatedKey;
        } while (startKey);
        return rows;
      }),
    );
    return perDay.flat();
  }

  /** Deletes the user's cells (their counts not folded into anything but the daily sums). */
  async eraseUser(userId: string): Promise<number> {
    return erasePartition(this.documents, this.statsTable, `${USER_CELL_PK_PREFIX}${userId}`, 'attribution');
  }
}

const eventOf = (event: StoredEvent & { type: EventType }) => ({
  type: event.type,
  itemId: event.itemId,
  at: event.at,
  ...(event.recommendationId ? { recommendationId: event.recommendationId } : {}),
  ...(event.position !== undefined ? { position: event.position } : {}),
  ...(event.price !== undefined ? { price: event.price } : {}),
});

function dailyRow(day: string, item: Record<string, unknown>): DailyMetricRow | undefined {
  const sk = String(item.sk);
  const sums = emptySums();
  for (const key of Object.keys(sums) as Array<keyof CellSums>)
    if (typeof item[key] === 'number') sums[key] = item[key] as number;
  if (sk === 'organic' || sk === 'unattributed') return { day, kind: sk, sums };
  const [kind, placement, strategy, source] = sk.split('#');
  if (kind !== 'cell' || !placement || !strategy || !source) return undefined;
  return {
    day,
    kind: 'cell',
    cell: { placement, strategy: strategy as Strategy, source: source as ImpressionSource },
    sums,
  };
}
