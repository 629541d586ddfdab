/**
 * The local twin of a Lambda event source mapping on a DynamoDB stream: polls DynamoDB Local's
 * stream of one table (the real Streams API, on the same endpoint), hands batches of the records
 * exactly as Lambda receives them to a handler, and applies the mapping's rules:
 *
 * - ReportBatchItemFailures: the batch is retried from its first failed record (the records
 *   before it are done); a handler that throws retries the whole batch.
 * - After `retryAttempts` retries the batch goes to the on-failure destination (here the
 *   `deadLetters` list, with the shard and sequence range Lambda would send) and polling moves on.
 * - Shards are read in order; the position is kept per shard, and in `checkpointFile` when
 *   given, so a restarted local app with a persistent database does not deliver records twice.
 *
 * The SDK has no Streams client in this repository, so the four calls it needs are signed and
 * sent here (JSON protocol, `DynamoDBStreams_20120810`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { createLocalDynamoDbClient, LOCAL_CREDENTIALS, LOCAL_REGION } from './aws-env';
import { LocalStackError } from './errors';

/** Same contract as `DynamoDBStreamHandler`, which allows returning nothing. */
// biome-ignore lint/suspicious/noConfusingVoidType: mirrors DynamoDBStreamHandler so real handlers type-check as is.
export type StreamBatchHandler = (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse | void>;

export interface LocalStreamOptions {
  readonly endpoint: string;
  readonly tableName: string;
  readonly handler: StreamBatchHandler;
  /** Most records per invocation. @default 100 */
  readonly batchSize?: number;
  /** Retries of a failed batch before it goes to the dead letters. @default 5 */
  readonly retryAttempts?: number;
  /** Pause between polls of a shard with nothing new (Lambda polls each shard four times a second). @default 250 */
  readonly pollIntervalMs?: number;
  /** Where the last delivered sequence number of each shard is kept across restarts. @default in memory */
  readonly checkpointFile?: string;
}

/** What Lambda sends to an on-failure destination for a stream batch (the records stay in the stream). */
export interface StreamDeadLetter {
  readonly shardId: string;
  readonly startSequenceNumber: string;
  readonly endSequenceNumber: string;
  readonly batchSize: number;
  readonly reason: string;
}

interface RawShard {
  ShardId: string;
  ParentShardId?: string;
  SequenceNumberRange?: { StartingSequenceNumber?: string; EndingSequenceNumber?: string };
}

const signer = new SignatureV4({
  credentials: LOCAL_CREDENTIALS,
  region: LOCAL_REGION,
  service: 'dynamodb',
  sha256: Hash.bind(null, 'sha256'),
});

async function streamsCall<T>(endpoint: string, operation: string, input: unknown): Promise<T> {
  const url = new URL(endpoint);
  const body = JSON.stringify(input);
  const signed = await signer.sign({
    method: 'POST',
    protocol: url.protocol,
    hostname: url.hostname,
    ...(url.port ? { port: Number(url.port) } : {}),
    path: '/',
    headers: {
      host: url.host,
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': `DynamoDBStreams_20120810.${operation}`,
    },
    body,
  });
  const response = await fetch(new URL('/', url), {
    method: 'POST',
    headers: signed.headers as Record<string, string>,
    body,
  });
  const text = await response.text();
  if (!response.ok) {
    const type = (JSON.parse(text) as { __type?: string }).__type?.split('#').pop();
    throw Object.assign(
      new LocalStackError(
        'stream_read_failed',
        `${operation} on the local stream answered ${response.status}: ${text.slice(0, 500)}`,
      ),
      { awsType: type },
    );
  }
  return JSON.parse(text) as T;
}

/**
 * Iterators to ask for again: expired ones (15 minutes), and DynamoDB Local's answer to a
 * TRIM_HORIZON iterator taken while the shard was still empty.
 */
const STALE_ITERATOR = new Set(['ExpiredIteratorException', 'TrimmedDataAccessException']);

export class LocalStreamConsumer {
  readonly deadLetters: StreamDeadLetter[] = [];
  private readonly batchSize: number;
  private readonly retryAttempts: number;
  private readonly pollIntervalMs: number;
  private streamArn: string | undefined;
  /** Per shard: the next iterator, or null once the shard is closed and read to its end. */
  private readonly iterators = new Map<string, string | null>();
  private readonly checkpoints = new Map<string, string>();
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private passes = 0;
  private readonly idleWaiters: Array<{
    afterPass: number;
    resolve: () => void;
    reject: (error: unknown) => void;
  }> = [];

  constructor(private readonly options: LocalStreamOptions) {
    this.batchSize = options.batchSize ?? 100;
    this.retryAttempts = options.retryAttempts ?? 5;
    this.pollIntervalMs = options.pollIntervalMs ?? 250;
    if (options.checkpointFile && existsSync(options.checkpointFile)) {
      const saved = JSON.parse(readFileSync(options.checkpointFile, 'utf8')) as Record<string, string>;
      for (const [shardId, sequenceNumber] of Object.entries(saved))
        this.checkpoints.set(shardId, sequenceNumber);
    }
  }

  async start(): Promise<void> {
    const client = createLocalDynamoDbClient(this.options.endpoint);
    try {
      const { Table } = await client.send(new DescribeTableCommand({ TableName: this.options.tableName }));
      this.streamArn = Table?.LatestStreamArn;
    } finally {
      client.destroy();
    }
    if (!this.streamArn)
      throw new LocalStackError('stream_read_failed', `${this.options.tableName} has no stream`);
    this.running = true;
    this.loop = this.run();
  }

  /**
   * Resolves once every record written before the call has been delivered (or dead-lettered);
   * rejects when reading the stream fails meanwhile.
   */
  drain({ timeoutMs = 60_000 } = {}): Promise<void> {
    const afterPass = this.passes;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new LocalStackError('stream_drain_timeout', `the ${this.options.tableName} stream did not drain`),
          ),
        timeoutMs,
      );
      this.idleWaiters.push({
        afterPass,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.wake?.();
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      let delivered = 0;
      const pass = ++this.passes;
      try {
        delivered = await this.pollOnce();
      } catch (error) {
        // DynamoDB Local went away (the app is stopping) or refused: tell whoever waits, try again.
        if (!this.running) break;
        for (const waiter of this.idleWaiters.splice(0)) waiter.reject(error);
        delivered = 0;
      }
      if (delivered === 0) {
        for (const waiter of this.idleWaiters.splice(0)) {
          if (waiter.afterPass < pass) waiter.resolve();
          else this.idleWaiters.push(waiter);
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.pollIntervalMs);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
      }
    }
  }

  /** One read of every shard; returns how many records it delivered (more than 0: poll again now). */
  private async pollOnce(): Promise<number> {
    const shards = await this.shards();
    let delivered = 0;
    for (const shard of shards) {
      // A child shard is read only after its parent is finished, as Lambda does.
      if (shard.ParentShardId && this.iterators.has(shard.ParentShardId)) {
        if (this.iterators.get(shard.ParentShardId) !== null) continue;
      }
      if (this.iterators.get(shard.ShardId) === null) continue;
      const page = await this.read(shard.ShardId);
      if (!page) continue;
      this.iterators.set(shard.ShardId, page.NextShardIterator ?? null);
      const records = (page.Records ?? []).map((record) => ({ ...record, eventSourceARN: this.streamArn }));
      if (records.length === 0) continue;
      await this.deliver(shard.ShardId, records);
      delivered += records.length;
    }
    return delivered;
  }

  /** The next page of a shard; undefined when the shard has no records yet. */
  private async read(
    shardId: string,
  ): Promise<{ Records?: DynamoDBRecord[]; NextShardIterator?: string } | undefined> {
    for (let attempt = 0; ; attempt++) {
      const kept = this.iterators.get(shardId);
      const fromCheckpoint = kept === undefined && this.checkpoints.has(shardId);
      const iterator = kept ?? (await this.firstIterator(shardId));
      try {
        return await streamsCall(this.options.endpoint, 'GetRecords', {
          ShardIterator: iterator,
          Limit: this.batchSize,
        });
      } catch (error) {
        if (!STALE_ITERATOR.has((error as { awsType?: string }).awsType ?? '')) throw error;
        this.iterators.delete(shardId);
        // The checkpoint's records are past the stream's retention: read what is left.
        if (fromCheckpoint) this.checkpoints.delete(shardId);
        // A new iterator from the start refused at once: the shard has no records yet.
        else if (kept === undefined || attempt > 1) return undefined;
      }
    }
  }

  private async shards(): Promise<RawShard[]> {
    const shards: RawShard[] = [];
    let start: string | undefined;
    do {
      const { StreamDescription } = await streamsCall<{
        StreamDescription: { Shards?: RawShard[]; LastEvaluatedShardId?: string };
      }>(this.options.endpoint, 'DescribeStream', {
        StreamArn: this.streamArn,
        ...(start ? { ExclusiveStartShardId: start } : {}),
      });
      shards.push(...(StreamDescription.Shards ?? []));
      start = StreamDescription.LastEvaluatedShardId;
    } while (start);
    return shards;
  }

  private async firstIterator(shardId: string): Promise<string> {
    const checkpoint = this.checkpoints.get(shardId);
    const { ShardIterator } = await streamsCall<{ ShardIterator: string }>(
      this.options.endpoint,
      'GetShardIterator',
      {
        StreamArn: this.streamArn,
        ShardId: shardId,
        ...(checkpoint
          ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: checkpoint }
          : { ShardIteratorType: 'TRIM_HORIZON' }),
      },
    );
    return ShardIterator;
  }

  private async deliver(shardId: string, records: DynamoDBRecord[]): Promise<void> {
    let pending = records;
    let reason = '';
    for (let attempt = 0; attempt <= this.retryAttempts && pending.length > 0; attempt++) {
      try {
        const response = await this.options.handler({ Records: pending });
        const failed = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
        const first = pending.findIndex((r) => failed.has(r.dynamodb?.SequenceNumber ?? ''));
        if (first === -1) pending = [];
        else {
          reason = `record ${pending[first]?.dynamodb?.SequenceNumber} reported as failed`;
          pending = pending.slice(first);
        }
      } catch (error) {
        reason = error instanceof Error ? error.message : String(error);
      }
    }
    if (pending.length > 0) {
      this.deadLetters.push({
        shardId,
        startSequenceNumber: pending[0]?.dynamodb?.SequenceNumber ?? '',
        endSequenceNumber: pending[pending.length - 1]?.dynamodb?.SequenceNumber ?? '',
        batchSize: pending.length,
        reason,
      });
    }
    const last = records[records.length - 1]?.dynamodb?.SequenceNumber;
    if (last) await this.checkpoint(shardId, last);
  }

  private async checkpoint(shardId: string, sequenceNumber: string): Promise<void> {
    this.checkpoints.set(shardId, sequenceNumber);
    const file = this.options.checkpointFile;
    if (!file) return;
    await writeFile(`${file}.tmp`, JSON.stringify(Object.fromEntries(this.checkpoints)));
    await rename(`${file}.tmp`, file);
  }
}
