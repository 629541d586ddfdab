/**
 * S3 event notifications (as the uploads queue delivers them) turned into the ObjectChanges that
 * ingestion applies. Only here are keys URL-decoded, etags unquoted and event names read.
 */
import { parse } from '@aws-lambda-powertools/parser';
import { JSONStringified } from '@aws-lambda-powertools/parser/helpers';
import * as z from 'zod';
import type { ObjectChange } from '../../app/ports';

/** S3 notifications form-encode keys: '+' for space and %XX for the rest. */
export function decodeNotificationKey(encoded: string): string {
  return decodeURIComponent(encoded.replace(/\+/g, ' '));
}

/** The inverse of {@link decodeNotificationKey}, as S3 encodes keys in notifications. */
export function encodeNotificationKey(key: string): string {
  return encodeURIComponent(key)
    .replace(/%20/g, '+')
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

const isObjectChange = (eventName: string) =>
  eventName.startsWith('ObjectCreated:') || eventName.startsWith('ObjectRemoved:');

/**
 * One record of an S3 event notification: what ingestion reads of it. Looser than Powertools'
 * S3Schema, which also demands the fields ingestion never reads (identities, request ids, an IPv4
 * source address) and would refuse records the local twin and its tests send.
 */
export const S3NotificationRecordSchema = z
  .object({
    eventName: z.string(),
    /** ISO 8601; when absent or unreadable, the change is dated when it is applied. */
    eventTime: z.string().optional(),
    s3: z.object({
      bucket: z.object({ name: z.string() }),
      object: z.object({
        /** URL-encoded, as S3 sends it. */
        key: z.string(),
        sequencer: z.string().optional(),
        versionId: z.string().optional(),
        eTag: z.string().optional(),
        size: z.coerce.number().optional(),
      }),
    }),
  })
  .refine((record) => !isObjectChange(record.eventName) || record.s3.object.sequencer !== undefined, {
    message: 'object created and removed events carry a sequencer',
    path: ['s3', 'object', 'sequencer'],
  });

export type S3NotificationRecord = z.infer<typeof S3NotificationRecordSchema>;

/** What S3 sends once to check that it can deliver to the queue. */
export const TEST_EVENT = 's3:TestEvent';

/**
 * The body of an uploads queue message: an S3 event notification, or the test event S3 sends when
 * the notification is configured. One object rather than a union, so that an issue names the field
 * it is about (`Records.0.s3.object.key`).
 */
export const UploadMessageSchema = z
  .object({
    Event: z.string().optional(),
    Records: z.array(S3NotificationRecordSchema).optional(),
  })
  .refine((message) => message.Event === TEST_EVENT || message.Records !== undefined, {
    message: 'an S3 event notification has Records',
    path: ['Records'],
  });

export type UploadMessage = z.infer<typeof UploadMessageSchema>;

const UploadMessageBody = JSONStringified(UploadMessageSchema);

/**
 * Parses an uploads queue message body. Throws the Powertools parser's ParseError (its `cause` holds
 * the zod issues) when it is not JSON or not an S3 notification.
 */
export function parseUploadMessage(body: string): UploadMessage {
  return parse(body, undefined, UploadMessageBody);
}

/** The change a record describes, or why it describes none (an event ingestion does not handle). */
export function objectChangeOf(
  record: S3NotificationRecord,
): ObjectChange | { ignored: string; key: string } {
  const { bucket, object } = record.s3;
  const key = decodeNotificationKey(object.key);
  if (!isObjectChange(record.eventName) || object.sequencer === undefined)
    return { ignored: record.eventName, key };
  const removed = record.eventName.startsWith('ObjectRemoved:');
  const eventTime = record.eventTime ? Date.parse(record.eventTime) : Number.NaN;
  return {
    kind: removed ? 'removed' : 'created',
    bucket: bucket.name,
    key,
    sequencer: object.sequencer,
    ...(object.versionId ? { versionId: object.versionId } : {}),
    ...(object.eTag ? { etag: object.eTag.replace(/^"|"$/g, '') } : {}),
    ...(object.size !== undefined ? { size: object.size } : {}),
    ...(eventTime ? { eventTime } : {}),
    // In a versioned bucket a plain delete is `DeleteMarkerCreated`; `Delete` with a version id removes
    // one version for good, or removes a delete marker (an undelete).
    ...(record.eventName === 'ObjectRemoved:Delete' && object.versionId ? { versionRemoved: true } : {}),
  };
}
