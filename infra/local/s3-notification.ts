/**
 * S3 event notification records exactly as AWS delivers them (event structure version 2.1), built
 * from what the local S3 stand-in saw. Handlers must only ever see the real format.
 */
import { randomBytes } from 'node:crypto';
import type { S3EventRecord } from 'aws-lambda';

export type S3NotificationEventName =
  | 'ObjectCreated:Put'
  | 'ObjectCreated:Post'
  | 'ObjectCreated:Copy'
  | 'ObjectCreated:CompleteMultipartUpload'
  | 'ObjectRemoved:Delete';

/**
 * Like `S3EventRecord` from @types/aws-lambda, except that `size` and `eTag` are optional: AWS
 * leaves them out of ObjectRemoved records, and so do we.
 */
export type S3NotificationRecord = Omit<S3EventRecord, 's3' | 'glacierEventData'> & {
  s3: Omit<S3EventRecord['s3'], 'object'> & {
    object: { key: string; size?: number; eTag?: string; versionId?: string; sequencer: string };
  };
};

/** What happened to one object, with the key as stored (not encoded). */
export interface ObjectChange {
  readonly eventName: S3NotificationEventName;
  readonly bucket: string;
  readonly key: string;
  readonly size?: number;
  /** Without quotes, as in AWS records. */
  readonly eTag?: string;
  readonly versionId?: string;
  readonly sourceIp: string;
  readonly region: string;
  readonly configurationId: string;
}

/**
 * AWS puts object keys into records form-encoded: space becomes '+', '+' becomes '%2B', '/' stays,
 * and other bytes of the UTF-8 form outside `A-Z a-z 0-9 . - _ *` become uppercase %XX (observed:
 * ':' %3A, '=' %3D, ';' %3B, '(' %28). Decode with {@link decodeS3EventKey}.
 */
export function encodeS3EventKey(key: string): string {
  let encoded = '';
  for (const byte of Buffer.from(key, 'utf8')) {
    if (byte === 0x20) encoded += '+';
    else if (isKeptByte(byte)) encoded += String.fromCharCode(byte);
    else encoded += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return encoded;
}

function isKeptByte(byte: number): boolean {
  return (
    (byte >= 0x30 && byte <= 0x39) || // 0-9
    (byte >= 0x41 && byte <= 0x5a) || // A-Z
    (byte >= 0x61 && byte <= 0x7a) || // a-z
    byte === 0x2e || // .
    byte === 0x2d || // -
    byte === 0x5f || // _
    byte === 0x2a || // *
    byte === 0x2f // /
  );
}

/** The inverse of {@link encodeS3EventKey}; what a handler must apply before calling GetObject. */
export function decodeS3EventKey(encoded: string): string {
  return decodeURIComponent(encoded.replace(/\+/g, ' '));
}

/** 18 hex digits like AWS's, so plain string comparison orders them. */
export const SEQUENCER_WIDTH = 18;
const SEQUENCER_STATE = Symbol.for('lookalike.local.s3.sequencer');
const processGlobals = globalThis as { [key: symbol]: { last: bigint } | undefined };
const sequencerState = processGlobals[SEQUENCER_STATE] ?? { last: 0n };
processGlobals[SEQUENCER_STATE] = sequencerState;

/**
 * Strictly increasing across every event of the process, even within one millisecond: the clock in
 * the high bits, a counter in the low 16 bits. The state lives on globalThis so that separate module
 * registries (as in Jest) still share one sequence.
 */
export function nextSequencer(now = Date.now()): string {
  const fromClock = BigInt(now) << 16n;
  sequencerState.last = fromClock > sequencerState.last ? fromClock : sequencerState.last + 1n;
  return sequencerState.last.toString(16).toUpperCase().padStart(SEQUENCER_WIDTH, '0');
}

/** Unique per created object version; same length and alphabet as AWS version ids we have seen. */
export function newVersionId(): string {
  return randomBytes(24).toString('base64url');
}

export function buildNotificationRecord(
  change: ObjectChange,
  sequencer = nextSequencer(),
): S3NotificationRecord {
  // Same field order as AWS; absent fields are left out rather than null.
  const object: S3NotificationRecord['s3']['object'] = {
    key: encodeS3EventKey(change.key),
    ...(change.size !== undefined && { size: change.size }),
    ...(change.eTag !== undefined && { eTag: change.eTag }),
    ...(change.versionId !== undefined && { versionId: change.versionId }),
    sequencer,
  };
  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: change.region,
    eventTime: new Date().toISOString(),
    eventName: change.eventName,
    userIdentity: { principalId: 'AWS:AIDALOCALS3RVERUSER' },
    requestParameters: { sourceIPAddress: change.sourceIp.replace(/^::ffff:/, '') },
    responseElements: {
      'x-amz-request-id': randomBytes(8).toString('hex').toUpperCase(),
      'x-amz-id-2': randomBytes(48).toString('base64'),
    },
    s3: {
      s3SchemaVersion: '1.0',
      configurationId: change.configurationId,
      bucket: {
        name: change.bucket,
        ownerIdentity: { principalId: 'A3LOCALS3RVEROWNER' },
        arn: `arn:aws:s3:::${change.bucket}`,
      },
      object,
    },
  };
}
