/** The Distributed Map's batch event, as the reembed function reads it. */
import { parseListedBatch } from '../../functions/adapters/s3/listed-batch';

describe('a Distributed Map batch', () => {
  it('reads ListObjectsV2 items: quoted etags, epoch-second times, raw keys', () => {
    const batch = parseListedBatch(
      {
        Items: [
          {
            Etag: '"05704fbdccb224cb01c59005bebbad28"',
            Key: 'catalogue/hearts/sku 1+2.png',
            LastModified: 1668699881,
            Size: 34910,
            StorageClass: 'STANDARD',
          },
        ],
        BatchInput: { models: ['m2'], inventory: false },
      },
      'catalogue-bucket',
    );
    expect(batch.input).toEqual({ models: ['m2'], inventory: false });
    expect(batch.objects).toEqual([
      {
        key: 'catalogue/hearts/sku 1+2.png',
        etag: '05704fbdccb224cb01c59005bebbad28',
        size: 34910,
        lastModified: new Date(1668699881 * 1000),
      },
    ]);
  });

  it('reads S3 Inventory items: URL-encoded keys, string columns, old versions and delete markers left out', () => {
    const batch = parseListedBatch(
      {
        Items: [
          {
            Bucket: 'catalogue-bucket',
            Key: 'catalogue/hearts/sku+1%2B2%C3%A9.png',
            Size: '120',
            LastModifiedDate: '2026-11-30T01:00:00.000Z',
            ETag: 'abc',
            IsLatest: 'true',
            IsDeleteMarker: 'false',
          },
          { Bucket: 'catalogue-bucket', Key: 'catalogue/old.png', IsLatest: 'false' },
          { Bucket: 'catalogue-bucket', Key: 'catalogue/gone.png', IsLatest: 'true', IsDeleteMarker: 'true' },
          { Bucket: 'another-bucket', Key: 'catalogue/elsewhere.png' },
        ],
        BatchInput: { models: [], inventory: true },
      },
      'catalogue-bucket',
    );
    expect(batch.objects).toEqual([
      {
        key: 'catalogue/hearts/sku 1+2é.png',
        etag: 'abc',
        size: 120,
        lastModified: new Date('2026-11-30T01:00:00.000Z'),
      },
    ]);
    expect(batch).toMatchObject({ notCurrent: 2, otherBucket: 1 });
  });

  it('defaults the batch input, and refuses a batch without items', () => {
    expect(parseListedBatch({ Items: [{ Key: 'catalogue/a.png' }] }, 'b').input).toEqual({
      models: [],
      inventory: false,
    });
    expect(() => parseListedBatch({ Items: [{ Size: 1 }] }, 'b')).toThrow();
    expect(() => parseListedBatch({}, 'b')).toThrow();
  });
});
