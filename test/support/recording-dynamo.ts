/**
 * An in-memory DynamoDB behind the real SDK client, for the hot-key simulation (issue 24): a request
 * handler answers the DynamoDB JSON protocol the real adapters speak (the SDK serialises, signs and
 * parses as it would against AWS), keeps the rows, feeds a stream for tables that have one, and
 * reports every written key (table, partition key, sort key) to a listener. So what is counted is
 * what the real write path issues: change an adapter's keys and the counts change.
 *
 * It covers what the events path and the Events stream's consumer use: GetItem, BatchGetItem,
 * Query (the key condition's partition, `attribute_exists` filters), PutItem, UpdateItem (SET,
 * ADD, REMOVE), DeleteItem, BatchWriteItem and TransactWriteItems. Conditions: only
 * `attribute_not_exists(...)` of the row is evaluated (idempotency markers, event ids); the others
 * (profile versions) hold, as nothing here races. Throttling and partitions are not modelled: the
 * listener counts, and the caller judges the counts.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  EVENTS_TABLE,
  ITEMS_TABLE,
  PROFILES_TABLE,
  STATS_TABLE,
  type TableDefinition,
} from '../../functions/contract/storage';

type AttributeValue = Record<string, unknown>;
/** What the SDK hands a request handler, and what it takes back (the parts used here). */
interface HttpRequest {
  headers: Record<string, string>;
  body?: unknown;
}
interface HttpResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: Uint8Array;
}
export type Row = Record<string, AttributeValue>;

export interface WrittenKey {
  /** The table's logical id (`Stats`, `Events`...). */
  table: string;
  pk: string;
  sk?: string;
}

export interface StreamRecordOut {
  eventID: string;
  eventName: 'INSERT' | 'MODIFY';
  dynamodb: { Keys: Row; NewImage: Row; SequenceNumber: string };
}

interface Table {
  definition: TableDefinition;
  /** Rows by partition key, then sort key ('' without one). */
  partitions: Map<string, Map<string, Row>>;
}

const scalar = (value: AttributeValue | undefined): string => {
  if (!value) throw new Error('missing key attribute');
  const v = value.S ?? value.N ?? value.B;
  if (typeof v !== 'string') throw new Error(`unsupported key value ${JSON.stringify(value)}`);
  return v;
};

class ConditionFailed extends Error {}

/** A request's input, as the JSON protocol carries it (the fields the operations here read). */
interface OperationInput {
  TableName: string;
  Key: Row;
  Item: Row;
  RequestItems: Record<string, unknown>;
  TransactItems: Array<{ Put?: OperationInput; Update?: OperationInput; Delete?: OperationInput }>;
  KeyConditionExpression: string;
  FilterExpression?: string;
  UpdateExpression: string;
  ConditionExpression?: string;
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: Row;
}

export class RecordingDynamo {
  private readonly tables = new Map<string, Table>();
  private sequence = 0;
  readonly streams = new Map<string, StreamRecordOut[]>();
  /** Called once per write action (a transaction's Put, Update, Delete each count; ConditionCheck does not). */
  onWrite: (key: WrittenKey) => void = () => undefined;

  constructor(
    /** Table name -> definition. */
    definitions: Record<string, TableDefinition>,
    /** Rows served for keys never written (a large catalogue without storing it). */
    private readonly lazyRow: (table: string, pk: string) => Row | undefined = () => undefined,
  ) {
    for (const [name, definition] of Object.entries(definitions))
      this.tables.set(name, { definition, partitions: new Map() });
  }

  /** A real DynamoDBClient whose requests this handles. */
  client(): DynamoDBClient {
    return new DynamoDBClient({
      region: 'us-east-1',
      endpoint: 'http://recording-dynamo.invalid',
      credentials: { accessKeyId: 'sim', secretAccessKey: 'sim' },
      maxAttempts: 1,
      requestHandler: {
        handle: async (request: HttpRequest) => ({ response: this.handle(request) }),
      } as never,
    });
  }

  /** The rows of one partition (tests and the simulation's checks). */
  rows(tableName: string, pk: string): Row[] {
    return [...(this.table(tableName).partitions.get(pk)?.values() ?? [])];
  }

  private table(name: string): Table {
    const table = this.tables.get(name);
    if (!table) throw new Error(`no table ${name}`);
    return table;
  }

  private keyOf(table: Table, item: Row): { pk: string; sk: string } {
    const { partitionKey, sortKey } = table.definition;
    return {
      pk: scalar(item[partitionKey.name]),
      sk: sortKey ? scalar(item[sortKey.name]) : '',
    };
  }

  private get(tableName: string, key: Row): Row | undefined {
    const table = this.table(tableName);
    const { pk, sk } = this.keyOf(table, key);
    return table.partitions.get(pk)?.get(sk) ?? (sk === '' ? this.lazyRow(tableName, pk) : undefined);
  }

  private written(tableName: string, item: Row): void {
    const table = this.table(tableName);
    const { pk, sk } = this.keyOf(table, item);
    this.onWrite({ table: table.definition.id, pk, ...(table.definition.sortKey ? { sk } : {}) });
  }

  private store(tableName: string, item: Row, existed: boolean): void {
    const table = this.table(tableName);
    const { pk, sk } = this.keyOf(table, item);
    let partition = table.partitions.get(pk);
    if (!partition) {
      partition = new Map();
      table.partitions.set(pk, partition);
    }
    partition.set(sk, item);
    if (table.definition.stream) {
      const sequence = String(++this.sequence).padStart(21, '0');
      const keys: Row = {
        [table.definition.partitionKey.name]: item[table.definition.partitionKey.name] as AttributeValue,
      };
      if (table.definition.sortKey)
        keys[table.definition.sortKey.name] = item[table.definition.sortKey.name] as AttributeValue;
      const records = this.streams.get(tableName) ?? [];
      records.push({
        eventID: `rec-${sequence}`,
        eventName: existed ? 'MODIFY' : 'INSERT',
        dynamodb: { Keys: keys, NewImage: structuredClone(item), SequenceNumber: sequence },
      });
      this.streams.set(tableName, records);
    }
  }

  private remove(tableName: string, key: Row): void {
    const table = this.table(tableName);
    const { pk, sk } = this.keyOf(table, key);
    table.partitions.get(pk)?.delete(sk);
  }

  /** Only `attribute_not_exists(x)` (alone, or as the first alternative of an OR) is judged. */
  private check(existing: Row | undefined, condition: string | undefined): void {
    if (!condition || !existing) return;
    const match = /^\s*attribute_not_exists\(\s*([#\w]+)\s*\)\s*$/.exec(condition);
    if (match) throw new ConditionFailed();
    // `attribute_not_exists(eventId) OR attribute_not_exists(epoch) OR epoch < :epoch` (an erased
    // epoch's event id): a redelivered event of the same epoch is refused.
    if (/^\s*attribute_not_exists\(eventId\) OR/.test(condition) && existing.epoch !== undefined) {
      throw new ConditionFailed();
    }
  }

  private put(input: { TableName: string; Item: Row; ConditionExpression?: string }): () => void {
    const existing = this.get(input.TableName, input.Item);
    this.check(existing, input.ConditionExpression);
    return () => {
      this.written(input.TableName, input.Item);
      this.store(input.TableName, input.Item, existing !== undefined);
    };
  }

  private update(input: {
    TableName: string;
    Key: Row;
    UpdateExpression: string;
    ConditionExpression?: string;
    ExpressionAttributeNames?: Record<string, string>;
    ExpressionAttributeValues?: Row;
  }): () => void {
    const existing = this.get(input.TableName, input.Key);
    this.check(existing, input.ConditionExpression);
    return () => {
      this.written(input.TableName, input.Key);
      const row: Row = structuredClone(existing ?? input.Key);
      const name = (token: string) =>
        token.startsWith('#') ? input.ExpressionAttributeNames?.[token] : token;
      const value = (token: string) => input.ExpressionAttributeValues?.[token];
      const clauses = input.UpdateExpression.split(/\b(SET|ADD|REMOVE)\b/).filter((s) => s.trim() !== '');
      for (let i = 0; i < clauses.length; i += 2) {
        const verb = clauses[i]?.trim();
        const parts = (clauses[i + 1] ?? '').split(',').map((s) => s.trim());
        for (const part of parts) {
          if (verb === 'REMOVE') delete row[name(part) as string];
          else if (verb === 'ADD') {
            const [path, token] = part.split(/\s+/) as [string, string];
            const attribute = name(path) as string;
            const before = Number(row[attribute]?.N ?? 0);
            row[attribute] = { N: String(before + Number(value(token)?.N)) };
          } else if (verb === 'SET') {
            const [path, expression] = part.split('=').map((s) => s.trim()) as [string, string];
            if (!/^:\w+$/.test(expression)) throw new Error(`unsupported SET ${part}`);
            row[name(path) as string] = value(expression) as AttributeValue;
          } else throw new Error(`unsupported update ${input.UpdateExpression}`);
        }
      }
      this.store(input.TableName, row, existing !== undefined);
    };
  }

  private delete(input: { TableName: string; Key: Row; ConditionExpression?: string }): () => void {
    this.check(this.get(input.TableName, input.Key), input.ConditionExpression);
    return () => {
      this.written(input.TableName, input.Key);
      this.remove(input.TableName, input.Key);
    };
  }

  private query(input: {
    TableName: string;
    KeyConditionExpression: string;
    FilterExpression?: string;
    ExpressionAttributeValues?: Row;
  }): { Items: Row[]; Count: number; ScannedCount: number } {
    const match = /^\s*\w+\s*=\s*(:\w+)\s*$/.exec(input.KeyConditionExpression);
    if (!match?.[1]) throw new Error(`unsupported key condition ${input.KeyConditionExpression}`);
    const pk = scalar(input.ExpressionAttributeValues?.[match[1]]);
    let items = [...(this.table(input.TableName).partitions.get(pk)?.values() ?? [])];
    const scanned = items.length;
    if (input.FilterExpression) {
      const filter = /^\s*attribute_exists\((\w+)\)\s*$/.exec(input.FilterExpression);
      if (!filter?.[1]) throw new Error(`unsupported filter ${input.FilterExpression}`);
      const attribute = filter[1];
      items = items.filter((item) => item[attribute] !== undefined);
    }
    return { Items: items, Count: items.length, ScannedCount: scanned };
  }

  private operate(operation: string, input: OperationInput): unknown {
    switch (operation) {
      case 'GetItem': {
        const item = this.get(input.TableName, input.Key);
        return item ? { Item: item } : {};
      }
      case 'BatchGetItem': {
        const responses: Record<string, Row[]> = {};
        for (const [table, request] of Object.entries(input.RequestItems as Record<string, { Keys: Row[] }>))
          responses[table] = request.Keys.map((key) => this.get(table, key)).filter(
            (row): row is Row => row !== undefined,
          );
        return { Responses: responses, UnprocessedKeys: {} };
      }
      case 'Query':
        return this.query(input);
      case 'PutItem':
        this.put(input)();
        return {};
      case 'UpdateItem':
        this.update(input)();
        return {};
      case 'DeleteItem':
        this.delete(input)();
        return {};
      case 'BatchWriteItem': {
        for (const [table, requests] of Object.entries(
          input.RequestItems as Record<
            string,
            Array<{ PutRequest?: { Item: Row }; DeleteRequest?: { Key: Row } }>
          >,
        ))
          for (const request of requests) {
            if (request.PutRequest) this.put({ TableName: table, Item: request.PutRequest.Item })();
            if (request.DeleteRequest) this.delete({ TableName: table, Key: request.DeleteRequest.Key })();
          }
        return { UnprocessedItems: {} };
      }
      case 'TransactWriteItems': {
        const actions = input.TransactItems;
        const applies: Array<() => void> = [];
        const reasons: Array<{ Code: string }> = [];
        let failed = false;
        for (const action of actions) {
          try {
            if (action.Put) applies.push(this.put(action.Put));
            else if (action.Update) applies.push(this.update(action.Update));
            else if (action.Delete) applies.push(this.delete(action.Delete));
            reasons.push({ Code: 'None' });
          } catch (error) {
            if (!(error instanceof ConditionFailed)) throw error;
            failed = true;
            reasons.push({ Code: 'ConditionalCheckFailed' });
          }
        }
        if (failed) throw new TransactionCanceled(reasons);
        for (const apply of applies) apply();
        return {};
      }
      default:
        throw new Error(`RecordingDynamo does not serve ${operation}`);
    }
  }

  private handle(request: HttpRequest): HttpResponse {
    const target = String(request.headers['x-amz-target'] ?? '');
    const operation = target.split('.')[1] ?? '';
    const body =
      request.body instanceof Uint8Array ? new TextDecoder().decode(request.body) : String(request.body);
    const input = JSON.parse(body) as OperationInput;
    try {
      return response(200, this.operate(operation, input));
    } catch (error) {
      if (error instanceof TransactionCanceled)
        return response(400, {
          __type: 'com.amazonaws.dynamodb.v20120810#TransactionCanceledException',
          message: 'Transaction cancelled',
          CancellationReasons: error.reasons,
        });
      if (error instanceof ConditionFailed)
        return response(400, {
          __type: 'com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException',
          message: 'The conditional request failed',
        });
      throw error;
    }
  }
}

class TransactionCanceled extends Error {
  constructor(readonly reasons: Array<{ Code: string }>) {
    super('transaction cancelled');
  }
}

function response(statusCode: number, body: unknown): HttpResponse {
  return {
    statusCode,
    headers: { 'content-type': 'application/x-amz-json-1.0' },
    body: new TextEncoder().encode(JSON.stringify(body)),
  };
}

/** The events path's tables by the names the simulation gives them (the StoreTables of ProfileStore). */
export const EVENTS_PATH_TABLES = { items: 'items', events: 'events', profiles: 'profiles', stats: 'stats' };

/** A RecordingDynamo with the events path's tables (Items, Events with its stream, Profiles, Stats). */
export function eventsPathDynamo(lazyRow?: (table: string, pk: string) => Row | undefined): RecordingDynamo {
  return new RecordingDynamo(
    { items: ITEMS_TABLE, events: EVENTS_TABLE, profiles: PROFILES_TABLE, stats: STATS_TABLE },
    lazyRow,
  );
}
