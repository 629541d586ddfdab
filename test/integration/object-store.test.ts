/**
 * The S3 adapter of ingestion's object store (S3ObjectStore) on the S3 stand-in passes the same
 * contract as the in-memory fake the ingest unit tests use.
 */
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { S3ObjectStore } from '../../functions/adapters/s3/object-store';
import { objectStoreContract } from '../support/contracts/object-store';
import { useLocalStack } from '../support/local-stack';

const MAX_BYTES = 4096;
const local = useLocalStack();

objectStoreContract('S3ObjectStore on the S3 stand-in', () => ({
  store: new S3ObjectStore(local.s3Client, MAX_BYTES),
  bucket: local.bucket,
  maxBytes: MAX_BYTES,
  put: async (key, bytes, metadata) => {
    await local.s3Client.send(
      new PutObjectCommand({ Bucket: local.bucket, Key: key, Body: bytes, Metadata: metadata }),
    );
  },
  remove: async (key) => {
    await local.s3Client.send(new DeleteObjectCommand({ Bucket: local.bucket, Key: key }));
  },
}));
