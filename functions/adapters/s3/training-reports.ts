import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { TrainingRecord, TrainingReports } from '../../app/train-similarity';
import { TRAINING_REPORTS_PREFIX } from '../../contract/storage';

/**
 * The trainer's records as JSON objects beside the index snapshots: `<prefix><ISO time>.json`, one
 * per run, never overwritten (a run at the same millisecond would need the same time twice).
 */
export class S3TrainingReports implements TrainingReports {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  async write(record: TrainingRecord): Promise<string> {
    const key = `${TRAINING_REPORTS_PREFIX}${record.at.replace(/[:.]/g, '-')}-${record.trigger}.json`;
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: JSON.stringify({ ...record, reportKey: key }, null, 2),
        ContentType: 'application/json',
        IfNoneMatch: '*',
      }),
    );
    return key;
  }
}
