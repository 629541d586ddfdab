import { decodeNotificationKey, encodeNotificationKey } from '../../functions/adapters/s3/notifications';
import { isStale } from '../../functions/domain/catalogue-item';
import {
  catalogueObjectFromKey,
  classifyCatalogueKey,
  normaliseSequencer,
  reconciledSequencer,
} from '../../functions/domain/catalogue-key';
import { parseItemMetadata } from '../../functions/domain/item-metadata';

describe('catalogue keys', () => {
  it.each([
    ['catalogue/SKU-1.jpg', 'SKU-1', undefined],
    ['catalogue/shoes/SKU-2.JPEG', 'SKU-2', 'shoes'],
    ['catalogue/shoes/summer/sale/SKU 3.png', 'SKU 3', 'shoes'],
    ['catalogue/a+b/c+d.webp', 'c+d', 'a+b'],
    ['catalogue/Ünïcødé/日本の靴.png', '日本の靴', 'Ünïcødé'],
    ['catalogue/x/name.with.dots.gif', 'name.with.dots', 'x'],
  ])('%s is item %s in category %s', (key, itemId, category) => {
    expect(catalogueObjectFromKey(key)).toEqual({
      key,
      itemId,
      ...(category ? { folderCategory: category } : {}),
    });
  });

  it.each([
    'other/SKU.jpg',
    'catalogue/readme.txt',
    'catalogue/folder/',
    'catalogue/.jpg',
    'catalogue/noext',
    'xcatalogue/a.jpg',
  ])('ignores %s', (key) => {
    expect(catalogueObjectFromKey(key)).toBeUndefined();
  });

  it.each([
    ['other/SKU.jpg', 'outside catalogue/'],
    ['catalogue/readme.txt', 'the file name has no image extension'],
    ['catalogue/folder/', 'the file name has no image extension'],
    ['catalogue/.jpg', 'the file name is only an extension'],
    [`catalogue/${'M'.repeat(513)}.png`, 'the item id is 513 bytes; the limit is 512'],
  ])('says why %s is no item', (key, reason) => {
    const classified = classifyCatalogueKey(key);
    expect('ignored' in classified && classified.ignored).toContain(reason);
  });

  it('decodes keys exactly as S3 encodes them in notifications', () => {
    expect(decodeNotificationKey('catalogue/my+shoe%2B1.jpg')).toBe('catalogue/my shoe+1.jpg');
    expect(decodeNotificationKey('catalogue/%E6%97%A5%E6%9C%AC.png')).toBe('catalogue/日本.png');
    for (const key of ['catalogue/a b+c/ü (1)*!.jpg', "catalogue/it's/~x.png", 'catalogue/%41.png']) {
      expect(decodeNotificationKey(encodeNotificationKey(key))).toBe(key);
    }
    expect(encodeNotificationKey('catalogue/a b+c.jpg')).toBe('catalogue%2Fa+b%2Bc.jpg');
  });

  it('orders sequencers of different lengths numerically', () => {
    expect(normaliseSequencer('0055AED6DCD90281E5') < normaliseSequencer('0055AED6DCD90281E6')).toBe(true);
    expect(normaliseSequencer('FF') < normaliseSequencer('100')).toBe(true);
    expect(normaliseSequencer('00ff')).toBe(normaliseSequencer('FF'));
    expect(() => normaliseSequencer('xyz')).toThrow(/not a sequencer/);
  });
});

describe('event order', () => {
  const source = (key: string, sequencer: string, eventAt: number) => ({
    bucket: 'b',
    key,
    sequencer: normaliseSequencer(sequencer),
    eventAt,
  });
  const stored = (key: string, sequencer: string, eventAt: number) =>
    ({ source: source(key, sequencer, eventAt) }) as Parameters<typeof isStale>[0];

  it('compares sequencers for the same key, and ignores event time there', () => {
    expect(isStale(stored('k', '0A', 5), source('k', '0B', 1))).toBe(false);
    expect(isStale(stored('k', '0B', 1), source('k', '0A', 5))).toBe(true);
    expect(isStale(stored('k', '0B', 1), source('k', '0B', 1))).toBe(true); // a duplicate
  });

  it('compares event times across keys of the same item id', () => {
    expect(isStale(stored('catalogue/a/x.jpg', 'FF', 10), source('catalogue/b/x.jpg', '01', 11))).toBe(false);
    expect(isStale(stored('catalogue/a/x.jpg', '01', 10), source('catalogue/b/x.jpg', 'FF', 9))).toBe(true);
    expect(isStale(undefined, source('k', '01', 1))).toBe(false);
  });

  it('places a reconciled state after the state it replaced and before every newer real event', () => {
    const applied = normaliseSequencer('0055AED6DCD90281E5');
    const reconciled = reconciledSequencer(applied, 1_000);
    expect(applied < reconciled).toBe(true);
    expect(reconciled < normaliseSequencer('0055AED6DCD90281E6')).toBe(true);
    expect(reconciled < normaliseSequencer('0155AED6DCD90281E0')).toBe(true);
    // A later reconcile of the same state, or of the reconciled one, sorts after the earlier one.
    expect(reconciled < reconciledSequencer(applied, 2_000)).toBe(true);
    expect(reconciled < reconciledSequencer(reconciled, 2_000)).toBe(true);
    expect(reconciledSequencer(reconciled, 2_000) < normaliseSequencer('0055AED6DCD90281E6')).toBe(true);
    expect(
      isStale(stored('k', '0055AED6DCD90281E5', 1), { ...source('k', '00', 1), sequencer: reconciled }),
    ).toBe(false);
  });

  it('counts a recorded failed replacement as applied', () => {
    const item = {
      ...stored('k', '0A', 1),
      lastUpdateError: { ...source('k', '0C', 3), code: 'truncated_image', message: '', at: 3 },
    } as Parameters<typeof isStale>[0];
    expect(isStale(item, source('k', '0C', 3))).toBe(true); // its duplicate
    expect(isStale(item, source('k', '0B', 2))).toBe(true);
    expect(isStale(item, source('k', '0D', 4))).toBe(false);
    expect(isStale(item, source('catalogue/other/k.png', '01', 2))).toBe(true);
  });
});

describe('item metadata', () => {
  it('reads title, category, price, tags and availability', () => {
    expect(
      parseItemMetadata({
        title: ' Red shoe ',
        category: 'shoes',
        price: '19.90',
        tags: 'red, leather,,red',
        available: 'false',
      }),
    ).toEqual({
      attributes: {
        title: 'Red shoe',
        category: 'shoes',
        price: 19.9,
        tags: ['red', 'leather'],
        available: false,
      },
      warnings: [],
    });
  });

  it('reads published-at as a UTC date or a zoned date-time, and warns about anything else', () => {
    expect(parseItemMetadata({ 'published-at': '2026-03-01' }).attributes.publishedAt).toBe(
      Date.UTC(2026, 2, 1),
    );
    expect(parseItemMetadata({ 'published-at': '2026-03-01T09:30:00+02:00' }).attributes.publishedAt).toBe(
      Date.UTC(2026, 2, 1, 7, 30),
    );
    for (const bad of ['2026-02-31', '2026-03-01T09:30:00', 'yesterday', '1700000000000', '2200-01-01']) {
      const { attributes, warnings } = parseItemMetadata({ 'published-at': bad });
      expect(attributes.publishedAt).toBeUndefined();
      expect(warnings).toEqual([expect.stringMatching(/^published-at: ".*" is not an ISO 8601 date/)]);
    }
  });

  it('falls back to the folder category, and metadata wins over it', () => {
    expect(parseItemMetadata({}, 'bags').attributes).toEqual({ category: 'bags', available: true });
    expect(parseItemMetadata({ category: 'totes' }, 'bags').attributes.category).toBe('totes');
  });

  it('keeps the item but reports unusable values', () => {
    const parsed = parseItemMetadata({ price: '-3', available: 'maybe' });
    expect(parsed.attributes).toEqual({ available: true });
    expect(parsed.warnings).toEqual([expect.stringMatching(/^price/), expect.stringMatching(/^available/)]);
  });
});
