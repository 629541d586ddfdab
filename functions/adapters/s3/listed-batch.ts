/**
 * The event a Step Functions Distributed Map with an ItemBatcher hands the re-embedding function:
 * `{ Items, BatchInput }`, each item one object of the catalogue bucket, as the ItemReader found it
 * (ListObjectsV2: `Key`, `Etag`, `Size`, `LastModified` in epoch seconds; an S3 Inventory manifest:
 * the inventory's CSV columns as strings, keys URL-encoded). Only here are those shapes read.
 */
import * as z from 'zod';
import type { ListedObject } from '../../app/backfill';
import { decodeNotificationKey } from './notifications';

const csvBoolean = z
  .union([z.boolean(), z.string()])
  .transform((value) => value === true || value === 'true');
const number = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const parsed = Number(value);
  if (!Number.isFinite(parsed)) {
    ctx.addIssue({ code: 'custom', message: `${value} is not a number` });
    return z.NEVER;
  }
  return parsed;
});

export const ListedItemSchema = z.looseObject({
  Key: z.string().min(1),
  /** ListObjectsV2 spells it Etag, an inventory ETag; both quoted or not. */
  Etag: z.string().optional(),
  ETag: z.string().optional(),
  Size: number.optional(),
  /** ListObjectsV2: epoch seconds (or an ISO date); an inventory has LastModifiedDate. */
  LastModified: z.union([z.number(), z.string()]).optional(),
  LastModifiedDate: z.string().optional(),
  /** Inventory only. */
  Bucket: z.string().optional(),
  IsLatest: csvBoolean.optional(),
  IsDeleteMarker: csvBoolean.optional(),
});

export type ListedItem = z.input<typeof ListedItemSchema>;

export const BatchInputSchema = z.object({
  /** Ids of the models to embed with besides the active one; empty: every model the function has. */
  models: z.array(z.string().min(1)).default([]),
  /** The ItemReader is an S3 Inventory manifest: keys are URL-encoded. */
  inventory: z.boolean().default(false),
});

export type BatchInput = z.output<typeof BatchInputSchema>;

export const ListedBatchSchema = z.object({
  Items: z.array(ListedItemSchema),
  BatchInput: BatchInputSchema.default({ models: [], inventory: false }),
});

export type ListedBatchEvent = z.input<typeof ListedBatchSchema>;

export interface ListedBatch {
  input: BatchInput;
  /** The current objects of the batch; noncurrent versions and delete markers of an inventory are left out. */
  objects: ListedObject[];
  /** Items of the batch that are not a current object (an inventory's old versions, delete markers). */
  notCurrent: number;
  /** Items that name another bucket than the catalogue's. */
  otherBucket: number;
}

/** Parses the batch (a malformed one throws: Step Functions then fails the batch with its message). */
export function parseListedBatch(event: unknown, bucket: string): ListedBatch {
  const { Items, BatchInput } = ListedBatchSchema.parse(event);
  const batch: ListedBatch = { input: BatchInput, objects: [], notCurrent: 0, otherBucket: 0 };
  for (const item of Items) {
    if (item.IsLatest === false || item.IsDeleteMarker === true) {
      batch.notCurrent++;
      continue;
    }
    if (item.Bucket !== undefined && item.Bucket !== bucket) {
      batch.otherBucket++;
      continue;
    }
    const etag = item.ETag ?? item.Etag;
    const lastModified = lastModifiedOf(item.LastModified ?? item.LastModifiedDate);
    batch.objects.push({
      key: BatchInput.inventory ? decodeNotificationKey(item.Key) : item.Key,
      ...(etag ? { etag: etag.replace(/^"|"$/g, '') } : {}),
      ...(item.Size !== undefined ? { size: item.Size } : {}),
      ...(lastModified ? { lastModified } : {}),
    });
  }
  return batch;
}

function lastModifiedOf(value: number | string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  // Epoch seconds as a number (or a numeric string); anything else is a date string.
  const date =
    typeof value === 'number' || /^\d+(\.\d+)?$/.test(value)
      ? new Date(Number(value) * 1000)
      : new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}
