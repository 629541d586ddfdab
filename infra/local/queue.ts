/**
 * An in-process stand-in for an SQS queue with a redrive policy plus the Lambda event source mapping
 * that polls it: batches of SQS-shaped records go to an async handler, which answers with a partial
 * batch response; failed messages come back after the visibility timeout and, after maxReceiveCount
 * receives, move to a dead-letter list with the last failure reason.
 *
 * Simplifications, on purpose: each message is delivered exactly once per receive (SQS is at least
 * once), in send order, and a message moves to the DLQ as soon as its last allowed receive fails
 * (SQS moves it on the next receive attempt after the visibility timeout).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Context, SQSBatchItemFailure, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { LOCAL_REGION } from './aws-env';
import { LocalStackError } from './errors';

/** Same contract as `SQSHandler` from @types/aws-lambda, which allows returning nothing. */
// biome-ignore lint/suspicious/noConfusingVoidType: mirrors SQSHandler so real handlers type-check as is.
export type SqsBatchHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | void>;

export interface LocalQueueOptions {
  readonly handler: SqsBatchHandler;
  /** Queue name in the event source ARN. @default 'local-queue' */
  readonly name?: string;
  /** Most records per invocation (event source mapping BatchSize). @default 10 */
  readonly batchSize?: number;
  /** Receives before a message goes to the DLQ (redrive policy). @default 3 */
  readonly maxReceiveCount?: number;
  /** How long a failed message stays invisible before it is received again. @default 30_000 */
  readonly visibilityTimeoutMs?: number;
  /** How long to gather records for a batch that is not full (MaximumBatchingWindow). @default 0 */
  readonly batchWindowMs?: number;
  /** Batches handled at the same time (the mapping's maximum concurrency). @default 1 */
  readonly concurrency?: number;
  /** @default 'us-east-1' */
  readonly region?: string;
}

export interface DeadLetter {
  readonly messageId: string;
  readonly body: string;
  readonly receiveCount: number;
  /** The error message of a throwing handler, or why the record was reported as failed. */
  readonly reason: string;
  readonly sentTimestamp: number;
  readonly deadLetteredAt: number;
}

export interface LocalQueueStats {
  readonly sent: number;
  /** Receives, counting redeliveries. */
  readonly received: number;
  readonly succeeded: number;
  /** Failed receives, counting each failure of a redelivered message. */
  readonly failedReceives: number;
  readonly deadLettered: number;
  readonly invocations: number;
  /** Waiting to be received, now or after their visibility timeout. */
  readonly waiting: number;
  readonly inFlight: number;
}

interface QueuedMessage {
  readonly messageId: string;
  readonly body: string;
  readonly sentTimestamp: number;
  receiveCount: number;
  firstReceiveTimestamp?: number;
  visibleAt: number;
  inFlight: boolean;
}

/**
 * The handler may add a non-standard `reason` to a failure item; Lambda ignores it, the local DLQ
 * keeps it. Without it the reason says the record was reported as failed.
 */
type ReportedFailure = SQSBatchItemFailure & { reason?: string };

export class LocalQueue {
  private readonly handler: SqsBatchHandler;
  private readonly batchSize: number;
  private readonly maxReceiveCount: number;
  private readonly visibilityTimeoutMs: number;
  private readonly batchWindowMs: number;
  private readonly concurrency: number;
  private readonly region: string;
  private readonly arn: string;
  private readonly functionName: string;
  private readonly messages = new Map<string, QueuedMessage>();
  private readonly deadLetters: DeadLetter[] = [];
  private readonly idleWaiters = new Set<() => void>();
  private readonly batchesInFlight = new Set<Promise<void>>();
  private counts = { sent: 0, received: 0, succeeded: 0, failedReceives: 0, invocations: 0 };
  private windowOpenedAt: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerDueAt = Number.POSITIVE_INFINITY;
  private stopped = false;

  constructor(options: LocalQueueOptions) {
    this.handler = options.handler;
    this.batchSize = positive('batchSize', options.batchSize ?? 10);
    this.maxReceiveCount = positive('maxReceiveCount', options.maxReceiveCount ?? 3);
    this.visibilityTimeoutMs = Math.max(0, options.visibilityTimeoutMs ?? 30_000);
    this.batchWindowMs = Math.max(0, options.batchWindowMs ?? 0);
    this.concurrency = positive('concurrency', options.concurrency ?? 1);
    this.region = options.region ?? LOCAL_REGION;
    const name = options.name ?? 'local-queue';
    this.arn = `arn:aws:sqs:${this.region}:000000000000:${name}`;
    this.functionName = `${name}-consumer`;
  }

  /** Enqueues one message and returns its id. */
  send(body: string): string {
    if (this.stopped) throw new LocalStackError('queue_stopped', 'send() after stop()');
    const now = Date.now();
    const messageId = randomUUID();
    this.messages.set(messageId, {
      messageId,
      body,
      sentTimestamp: now,
      receiveCount: 0,
      visibleAt: now,
      inFlight: false,
    });
    this.counts.sent++;
    this.pump();
    return messageId;
  }

  /** Resolves once no message is waiting (retries included) and no batch is in flight. */
  drain(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      let timeout: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timeout);
        this.idleWaiters.delete(done);
        resolve();
      };
      this.idleWaiters.add(done);
      if (options.timeoutMs !== undefined) {
        timeout = setTimeout(() => {
          this.idleWaiters.delete(done);
          reject(
            new LocalStackError(
              'queue_drain_timeout',
              `queue not empty after ${options.timeoutMs} ms: ${JSON.stringify(this.stats())}`,
            ),
          );
        }, options.timeoutMs);
      }
    });
  }

  dlq(): readonly DeadLetter[] {
    return [...this.deadLetters];
  }

  stats(): LocalQueueStats {
    let inFlight = 0;
    for (const message of this.messages.values()) if (message.inFlight) inFlight++;
    return {
      ...this.counts,
      deadLettered: this.deadLetters.length,
      waiting: this.messages.size - inFlight,
      inFlight,
    };
  }

  /** Stops polling; resolves when the batches in flight have finished. Waiting messages stay put. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await Promise.all(this.batchesInFlight);
  }

  private isIdle(): boolean {
    return this.messages.size === 0;
  }

  /** Starts every batch that is due and arms one timer for the next thing that becomes due. */
  private pump(): void {
    if (this.stopped) return;
    const now = Date.now();
    let wakeAt = Number.POSITIVE_INFINITY;
    while (this.batchesInFlight.size < this.concurrency) {
      const visible: QueuedMessage[] = [];
      for (const message of this.messages.values()) {
        if (message.inFlight) continue;
        if (message.visibleAt <= now) visible.push(message);
        else wakeAt = Math.min(wakeAt, message.visibleAt);
      }
      if (visible.length === 0) break;
      this.windowOpenedAt ??= now;
      const windowClosesAt = this.windowOpenedAt + this.batchWindowMs;
      if (visible.length < this.batchSize && now < windowClosesAt) {
        wakeAt = Math.min(wakeAt, windowClosesAt);
        break;
      }
      this.windowOpenedAt = undefined;
      this.startBatch(visible.slice(0, this.batchSize), now);
    }
    this.armTimer(wakeAt);
    if (this.isIdle()) for (const resolve of [...this.idleWaiters]) resolve();
  }

  private armTimer(dueAt: number): void {
    if (dueAt === this.timerDueAt) return;
    clearTimeout(this.timer);
    this.timerDueAt = dueAt;
    if (dueAt === Number.POSITIVE_INFINITY) return;
    this.timer = setTimeout(
      () => {
        this.timerDueAt = Number.POSITIVE_INFINITY;
        this.pump();
      },
      Math.max(0, dueAt - Date.now()),
    );
  }

  private startBatch(batch: QueuedMessage[], now: number): void {
    const receipts = new Map<string, QueuedMessage>();
    const records = batch.map((message) => {
      message.inFlight = true;
      message.receiveCount++;
      message.firstReceiveTimestamp ??= now;
      receipts.set(message.messageId, message);
      return this.toRecord(message);
    });
    this.counts.received += batch.length;
    this.counts.invocations++;
    // Deferred so that a handler that sends to this queue never re-enters pump() mid-loop.
    const run = Promise.resolve()
      .then(() => this.invoke({ Records: records }))
      .then((failures) => {
        this.batchesInFlight.delete(run);
        this.settle(receipts, failures);
        this.pump();
      });
    this.batchesInFlight.add(run);
  }

  /** Runs the handler and maps its outcome to failure reasons by message id (empty: all succeeded). */
  private async invoke(event: SQSEvent): Promise<Map<string, string>> {
    const failures = new Map<string, string>();
    const failAll = (reason: string) => {
      for (const record of event.Records) failures.set(record.messageId, reason);
      return failures;
    };
    let response: SQSBatchResponse | undefined;
    try {
      response = (await this.handler(event, this.context())) ?? undefined;
    } catch (error) {
      return failAll(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
    }
    const reported = (response?.batchItemFailures ?? []) as ReportedFailure[];
    const inBatch = new Set(event.Records.map((record) => record.messageId));
    for (const failure of reported) {
      // Lambda treats an empty or unknown itemIdentifier as a failure of the whole batch.
      if (!failure?.itemIdentifier || !inBatch.has(failure.itemIdentifier)) {
        return failAll(`invalid batchItemFailures entry: ${JSON.stringify(failure)}`);
      }
      failures.set(failure.itemIdentifier, failure.reason ?? 'reported in batchItemFailures');
    }
    return failures;
  }

  private settle(batch: Map<string, QueuedMessage>, failures: Map<string, string>): void {
    const now = Date.now();
    for (const message of batch.values()) {
      const reason = failures.get(message.messageId);
      if (reason === undefined) {
        this.counts.succeeded++;
        this.messages.delete(message.messageId);
        continue;
      }
      this.counts.failedReceives++;
      if (message.receiveCount >= this.maxReceiveCount) {
        this.messages.delete(message.messageId);
        this.deadLetters.push({
          messageId: message.messageId,
          body: message.body,
          receiveCount: message.receiveCount,
          reason,
          sentTimestamp: message.sentTimestamp,
          deadLetteredAt: now,
        });
      } else {
        message.inFlight = false;
        message.visibleAt = now + this.visibilityTimeoutMs;
      }
    }
  }

  private toRecord(message: QueuedMessage): SQSRecord {
    return {
      messageId: message.messageId,
      receiptHandle: randomBytes(48).toString('base64'),
      body: message.body,
      attributes: {
        ApproximateReceiveCount: String(message.receiveCount),
        SentTimestamp: String(message.sentTimestamp),
        SenderId: 'AIDALOCALQUEUESENDER',
        ApproximateFirstReceiveTimestamp: String(message.firstReceiveTimestamp ?? message.sentTimestamp),
      },
      messageAttributes: {},
      md5OfBody: createHash('md5').update(message.body, 'utf8').digest('hex'),
      eventSource: 'aws:sqs',
      eventSourceARN: this.arn,
      awsRegion: this.region,
    };
  }

  /** Enough of a Lambda context for Powertools and for handlers that read the remaining time. */
  private context(): Context {
    const deadline = Date.now() + Math.max(this.visibilityTimeoutMs, 1_000);
    const functionName = this.functionName;
    return {
      callbackWaitsForEmptyEventLoop: false,
      functionName,
      functionVersion: '$LATEST',
      invokedFunctionArn: `arn:aws:lambda:${this.region}:000000000000:function:${functionName}`,
      memoryLimitInMB: '1024',
      awsRequestId: randomUUID(),
      logGroupName: `/aws/lambda/${functionName}`,
      logStreamName: 'local',
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
      done: () => undefined,
      fail: () => undefined,
      succeed: () => undefined,
    };
  }
}

function positive(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1)
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}
