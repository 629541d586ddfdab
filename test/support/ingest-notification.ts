/**
 * Applies one S3 notification record through the S3 adapter and the ingest use case, as the embed
 * handler does for each record of a message: for tests that replay records they captured.
 */
import { objectChangeOf, S3NotificationRecordSchema } from '../../functions/adapters/s3/notifications';
import { type IngestDeps, type IngestOutcome, ingest } from '../../functions/app/ingest';

export async function ingestRecord(deps: IngestDeps, record: unknown): Promise<IngestOutcome> {
  const change = objectChangeOf(S3NotificationRecordSchema.parse(record));
  if ('ignored' in change) return { outcome: 'ignored', key: change.key, reason: change.ignored };
  return ingest(deps, change);
}
