import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';

/** Whether a TransactWriteItems failed as cancelled (a condition, a conflict), not otherwise. */
export const isCancelled = (error: unknown): boolean =>
  error instanceof TransactionCanceledException ||
  (error as { name?: string }).name === 'TransactionCanceledException';

/** A cancelled transaction's reasons, one per action in order (empty when there are none). */
export const cancellationReasons = (error: unknown): Array<{ Code?: string }> =>
  (error as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons ?? [];

/**
 * After a cancelled transaction whose first actions are the records' markers (one per record, in
 * order, each on condition it is absent): the ids of the records already applied by an earlier
 * delivery. Anything but a cancellation is rethrown.
 */
export function appliedBefore(error: unknown, records: ReadonlyArray<{ recordId: string }>): Set<string> {
  if (!isCancelled(error)) throw error;
  const reasons = cancellationReasons(error);
  return new Set(
    records.filter((_, i) => reasons[i]?.Code === 'ConditionalCheckFailed').map((record) => record.recordId),
  );
}
