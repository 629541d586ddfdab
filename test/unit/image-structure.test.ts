import { readFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import fc from 'fast-check';
import sharp from 'sharp';
import { IMAGE_EXTENSIONS } from '../../functions/contract/storage';
import { CATALOGUE_IMAGE_CODES, INVALID_IMAGE_CODES, InvalidImage } from '../../functions/domain/errors';
import { type ImageFormat, sniffImageFormat } from '../../functions/domain/image-format';
import {
  checkCatalogueUpload,
  checkExtension,
  EXTENSIONS_BY_FORMAT,
  inspectCatalogueImage,
  MAX_CATALOGUE_METADATA_BYTES,
  type StructureLimits,
} from '../../functions/domain/image-structure';
import {
  gifJavaScriptPolyglot,
  gifWithComment,
  hostileExif,
  jpegWithSegments,
  webpWithChunk,
  withMultiPicture,
  withPngChunk,
  zipOf,
} from '../support/fuzz/hostile-images';
import { catalogueJpeg, emojiImages, pngBomb, pngChunk, randomBytes, solid } from '../support/images';

const MB = 1024 * 1024;
const base = () => solid(120, 80, '#2a7fff');
const exif = { IFD0: { ImageDescription: 'a blue square', Copyright: 'Lookalike' } };
const xmp = '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="x"/></x:xmpmeta>';
const frames = () =>
  Promise.all(['#ff0000', '#00ff00', '#0000ff'].map((c) => solid(48, 48, c).png().toBuffer()));

const formatOf = (bytes: Uint8Array): ImageFormat => {
  const sniffed = sniffImageFormat(bytes);
  if (sniffed.kind !== 'image') throw new Error(`not an image: ${JSON.stringify(sniffed)}`);
  return sniffed.format;
};
const inspect = (bytes: Uint8Array, limits?: Partial<StructureLimits>) =>
  inspectCatalogueImage(bytes, formatOf(bytes), limits);

/** The InvalidImage the walk throws; fails the test when it throws nothing or something else. */
function rejectionOf(
  bytes: Uint8Array,
  format = formatOf(bytes),
  limits?: Partial<StructureLimits>,
): InvalidImage {
  try {
    inspectCatalogueImage(bytes, format, limits);
  } catch (error) {
    if (error instanceof InvalidImage) return error;
    throw error;
  }
  throw new Error('the walk accepted the file');
}

/** 'ok' or the InvalidImage code; anything else thrown (a TypeError, a RangeError) fails the test. */
function verdict(bytes: Uint8Array, format: ImageFormat): string {
  try {
    inspectCatalogueImage(bytes, format);
    return 'ok';
  } catch (error) {
    if (error instanceof InvalidImage) return error.code;
    throw error;
  }
}

const samples = {
  jpeg: () => base().jpeg().toBuffer(),
  progressiveJpeg: () => base().jpeg({ progressive: true }).toBuffer(),
  png: () => base().png().toBuffer(),
  gif: () => base().gif().toBuffer(),
  webp: () => base().webp().toBuffer(),
};

describe('well-formed images pass the structure walk', () => {
  const variants: Array<[name: string, make: () => Promise<Buffer>, metadata: 'none' | 'some']> = [
    ['baseline JPEG', samples.jpeg, 'none'],
    ['progressive JPEG', samples.progressiveJpeg, 'none'],
    ['mozjpeg JPEG (progressive, optimised tables)', () => base().jpeg({ mozjpeg: true }).toBuffer(), 'none'],
    ['4:4:4 JPEG', () => base().jpeg({ chromaSubsampling: '4:4:4' }).toBuffer(), 'none'],
    ['greyscale JPEG', () => base().greyscale().jpeg().toBuffer(), 'none'],
    ['CMYK JPEG (Adobe APP14)', () => base().toColourspace('cmyk').jpeg().toBuffer(), 'some'],
    ['JPEG with EXIF and ICC (withMetadata)', () => base().jpeg().withMetadata().toBuffer(), 'some'],
    [
      'JPEG with EXIF, XMP and an sRGB ICC profile',
      () => base().jpeg().withIccProfile('srgb').withExif(exif).withXmp(xmp).toBuffer(),
      'some',
    ],
    [
      'noisy JPEG at quality 100 (many stuffed 0xFF bytes)',
      () =>
        sharp(randomBytes(300 * 200 * 3, 9), { raw: { width: 300, height: 200, channels: 3 } })
          .jpeg({ quality: 100 })
          .toBuffer(),
      'none',
    ],
    ['catalogue photo, 1000 px JPEG', () => catalogueJpeg(emojiImages()[100]?.file as string), 'none'],
    ['PNG', samples.png, 'none'],
    ['palette PNG', () => base().png({ palette: true }).toBuffer(), 'none'],
    ['interlaced PNG', () => base().png({ progressive: true }).toBuffer(), 'none'],
    ['16-bit PNG', () => base().toColourspace('rgb16').png().toBuffer(), 'none'],
    [
      'PNG with alpha',
      () =>
        sharp({
          create: { width: 64, height: 64, channels: 4, background: { r: 9, g: 9, b: 9, alpha: 0.5 } },
        })
          .png()
          .toBuffer(),
      'none',
    ],
    ['PNG with iCCP and eXIf (withMetadata)', () => base().png().withMetadata().toBuffer(), 'some'],
    [
      'PNG with tEXt and a compressed iTXt',
      async () =>
        withPngChunk(
          withPngChunk(await samples.png(), pngChunk('tEXt', Buffer.from('Title\0Blue', 'latin1'))),
          pngChunk(
            'iTXt',
            Buffer.concat([Buffer.from('Description\0\x01\0en\0\0', 'latin1'), deflateSync('a blue square')]),
          ),
        ),
      'some',
    ],
    ['GIF', samples.gif, 'none'],
    [
      'animated GIF (NETSCAPE loop extension)',
      async () =>
        sharp(await frames(), { join: { animated: true } })
          .gif({ loop: 0 })
          .toBuffer(),
      'some',
    ],
    ['GIF with a comment extension', async () => gifWithComment(await samples.gif(), 600), 'some'],
    ['lossy WebP', samples.webp, 'none'],
    ['lossless WebP', () => base().webp({ lossless: true }).toBuffer(), 'none'],
    [
      'WebP with alpha (VP8X, ALPH)',
      () =>
        sharp({
          create: { width: 64, height: 64, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0.5 } },
        })
          .webp()
          .toBuffer(),
      'none',
    ],
    [
      'animated WebP',
      async () =>
        sharp(await frames(), { join: { animated: true } })
          .webp()
          .toBuffer(),
      'none',
    ],
    [
      'WebP with EXIF, XMP and ICC',
      () => base().webp().withIccProfile('srgb').withExif(exif).withXmp(xmp).toBuffer(),
      'some',
    ],
  ];

  it.each(variants)('%s', async (_name, make, metadata) => {
    const bytes = await make();
    const format = formatOf(bytes);
    const structure = inspectCatalogueImage(bytes, format);
    expect(structure).toEqual({ format, end: bytes.length, metadataBytes: expect.any(Number) });
    if (metadata === 'none') expect(structure?.metadataBytes).toBe(0);
    else expect(structure?.metadataBytes).toBeGreaterThan(0);
  });

  it('accepts every emoji PNG of the evaluation sets, written by other encoders', () => {
    const verdicts = new Map<string, number>();
    for (const image of [...emojiImages('google'), ...emojiImages('twitter')]) {
      const code = verdict(readFileSync(image.file), 'png');
      verdicts.set(code, (verdicts.get(code) ?? 0) + 1);
    }
    expect([...verdicts.keys()]).toEqual(['ok']);
    expect(verdicts.get('ok')).toBeGreaterThan(3000);
  });

  it.each([
    ['8 zero bytes', Buffer.alloc(8)],
    ['CR LF', Buffer.from('\r\n')],
    ['16 spaces', Buffer.alloc(16, 0x20)],
  ])('tolerates %s of padding after the end of each format', async (_name, padding) => {
    for (const make of Object.values(samples)) {
      const image = await make();
      expect(inspect(Buffer.concat([image, padding]))).toMatchObject({ end: image.length });
    }
  });

  it('accepts whole JPEGs after the primary one when an MPF index announces them (phone gain maps)', async () => {
    const primary = await samples.jpeg();
    const secondary = await solid(32, 32, '#000000').jpeg().toBuffer();
    const gainMapped = withMultiPicture(primary, secondary);
    expect(inspect(gainMapped)).toMatchObject({ end: gainMapped.length });
    const twoMore = withMultiPicture(primary, Buffer.concat([secondary, secondary]));
    expect(inspect(twoMore)).toMatchObject({ end: twoMore.length });
  });
});

describe('hostile constructions get their codes', () => {
  let png: Buffer;
  let jpeg: Buffer;
  let gif: Buffer;
  let webp: Buffer;
  const html = Buffer.from('<html><body><script>alert(document.cookie)</script></body></html>');
  beforeAll(async () => {
    [png, jpeg, gif, webp] = await Promise.all([
      samples.png(),
      samples.jpeg(),
      samples.gif(),
      samples.webp(),
    ]);
  });

  describe('polyglot_file: bytes after the image', () => {
    it.each([
      ['PNG + ZIP', () => Buffer.concat([png, zipOf('index.html', html, png.length)]), 'png', 'zip'],
      ['PNG + HTML', () => Buffer.concat([png, html]), 'png', 'html'],
      ['GIF/JavaScript polyglot', () => gifJavaScriptPolyglot(gif), 'gif', 'script'],
      ['JPEG + PDF', () => Buffer.concat([jpeg, Buffer.from('%PDF-1.4\n%%EOF\n')]), 'jpeg', 'pdf'],
      [
        'JPEG + <script>',
        () => Buffer.concat([jpeg, Buffer.from('<script>alert(1)</script>')]),
        'jpeg',
        'script',
      ],
      [
        'JPEG + MP4',
        () => Buffer.concat([jpeg, Buffer.from('\0\0\0\x18ftypisom\0\0\0\0isommp41', 'latin1')]),
        'jpeg',
        'mp4',
      ],
      ['JPEG + JPEG without an MPF index', () => Buffer.concat([jpeg, jpeg]), 'jpeg', 'jpeg'],
      ['WebP + ZIP', () => Buffer.concat([webp, zipOf('a.html', html, webp.length)]), 'webp', 'zip'],
      [
        'GIF + PHP after padding',
        () => Buffer.concat([gif, Buffer.from('\n\n<?php system($_GET[0]);')]),
        'gif',
        'php',
      ],
    ])('%s', (_name, make, format, looksLike) => {
      const bytes = make();
      const error = rejectionOf(bytes);
      expect(error.code).toBe('polyglot_file');
      expect(error.details).toEqual({ format, trailingBytes: expect.any(Number), looksLike });
    });

    it('counts the trailing bytes, and names nothing when the tail is unrecognisable', () => {
      const tail = randomBytes(100, 5);
      tail[0] = 0xa7;
      expect(rejectionOf(Buffer.concat([png, tail])).details).toEqual({ format: 'png', trailingBytes: 100 });
    });

    it('tolerates at most 16 padding bytes, and only zeros and whitespace', () => {
      expect(rejectionOf(Buffer.concat([png, Buffer.alloc(17)])).code).toBe('polyglot_file');
      expect(rejectionOf(Buffer.concat([jpeg, Buffer.from('x')])).code).toBe('polyglot_file');
      expect(rejectionOf(Buffer.concat([gif, Buffer.from('\t')])).code).toBe('polyglot_file');
      expect(inspect(Buffer.concat([png, Buffer.alloc(16)]))).toBeDefined();
    });

    it('rejects data after the last image of an MPF file', async () => {
      const secondary = await solid(32, 32, '#000000').jpeg().toBuffer();
      const withZip = Buffer.concat([withMultiPicture(jpeg, secondary), zipOf('a.html', html, 0)]);
      expect(rejectionOf(withZip).details).toMatchObject({ looksLike: 'zip' });
      const cut = withMultiPicture(jpeg, secondary.subarray(0, secondary.length - 10));
      expect(rejectionOf(cut).code).toBe('truncated_image');
    });
  });

  describe('metadata_too_large: over 1 MiB of metadata, compressed text inflated', () => {
    it('is exactly 1 MiB, counted across chunks up to the limit and not a byte more', () => {
      expect(MAX_CATALOGUE_METADATA_BYTES).toBe(MB);
      const text = (bytes: number) =>
        pngChunk('tEXt', Buffer.concat([Buffer.from('A\0'), Buffer.alloc(bytes - 2, 0x61)]));
      expect(inspect(withPngChunk(png, text(1000)), { maxMetadataBytes: 1000 })?.metadataBytes).toBe(1000);
      expect(rejectionOf(withPngChunk(png, text(1001)), 'png', { maxMetadataBytes: 1000 }).code).toBe(
        'metadata_too_large',
      );
      expect(inspect(withPngChunk(png, text(MB)))?.metadataBytes).toBe(MB);
      expect(rejectionOf(withPngChunk(withPngChunk(png, text(MB / 2)), text(MB / 2 + 1))).code).toBe(
        'metadata_too_large',
      );
    });

    it('counts zTXt at its inflated size', () => {
      const ztxt = (inflated: number) =>
        pngChunk(
          'zTXt',
          Buffer.concat([Buffer.from('Comment\0\0', 'latin1'), deflateSync(Buffer.alloc(inflated, 0x41))]),
        );
      expect(inspect(withPngChunk(png, ztxt(200_000)))?.metadataBytes).toBe(9 + 200_000);
      // Each is small when compressed; together they inflate past the limit.
      expect(
        rejectionOf(withPngChunk(withPngChunk(png, ztxt(600_000)), ztxt(600_000))).details,
      ).toMatchObject({
        reachedIn: 'a zTXt chunk, inflated',
      });
    });

    it.each([
      [
        'a 5 MB tEXt chunk',
        () => pngChunk('tEXt', Buffer.concat([Buffer.from('Comment\0'), Buffer.alloc(5 * MB, 0x41)])),
      ],
      [
        'a zTXt chunk inflating to 100 MB',
        () =>
          pngChunk(
            'zTXt',
            Buffer.concat([Buffer.from('Comment\0\0'), deflateSync(Buffer.alloc(100 * MB, 0x41))]),
          ),
      ],
      [
        'a compressed iTXt chunk inflating to 100 MB',
        () =>
          pngChunk(
            'iTXt',
            Buffer.concat([
              Buffer.from('XML:com.adobe.xmp\0\x01\0\0\0', 'latin1'),
              deflateSync(Buffer.alloc(100 * MB, 0x20)),
            ]),
          ),
      ],
      [
        'an iCCP chunk inflating to 100 MB',
        () => pngChunk('iCCP', Buffer.concat([Buffer.from('icc\0\0'), deflateSync(Buffer.alloc(100 * MB))])),
      ],
      ['a 2 MB private chunk', () => pngChunk('prVt', Buffer.alloc(2 * MB))],
      ['a 2 MB bKGD chunk (no rendering chunk is that large)', () => pngChunk('bKGD', Buffer.alloc(2 * MB))],
      [
        'a 2 MB eXIf chunk',
        () => pngChunk('eXIf', Buffer.concat([Buffer.from('MM\0*\0\0\0\x08\0\0'), Buffer.alloc(2 * MB)])),
      ],
    ])('PNG with %s', (_name, chunk) => {
      expect(rejectionOf(withPngChunk(png, chunk())).code).toBe('metadata_too_large');
    });

    it.each([
      ['5 MB of COM segments', 0xfe],
      ['a 2 MB ICC profile in APP2 segments', 0xe2],
      ['2 MB of XMP in APP1 segments', 0xe1],
      ['2 MB in segments with a reserved marker (JPG0), which decoders skip', 0xf0],
    ])('JPEG with %s', (_name, marker) => {
      const payload = Buffer.alloc(65_533, 0x20);
      Buffer.from(marker === 0xe2 ? 'ICC_PROFILE\0' : 'http://ns.adobe.com/xap/1.0/\0').copy(payload);
      expect(
        rejectionOf(jpegWithSegments(jpeg, marker, payload, marker === 0xfe ? 5 * MB : 2 * MB)).code,
      ).toBe('metadata_too_large');
    });

    it('GIF with a 2 MB comment or unknown extension, and a WebP with a 2 MB XMP chunk', () => {
      expect(rejectionOf(gifWithComment(gif, 2 * MB)).details).toMatchObject({
        reachedIn: 'a comment extension',
      });
      const unknownExtension = gifWithComment(gif, 2 * MB);
      unknownExtension[unknownExtension.indexOf(Buffer.from([0x21, 0xfe])) + 1] = 0x7e;
      expect(rejectionOf(unknownExtension).details).toMatchObject({
        reachedIn: 'an extension with label 0x7e',
      });
      expect(rejectionOf(webpWithChunk(webp, 'XMP ', Buffer.alloc(2 * MB, 0x20))).code).toBe(
        'metadata_too_large',
      );
    });

    it('does not count the small chunks that say how to render the pixels', async () => {
      const palette = await sharp({
        create: { width: 32, height: 32, channels: 4, background: { r: 1, g: 2, b: 3, alpha: 0.5 } },
      })
        .png({ palette: true })
        .toBuffer();
      expect(palette.includes('tRNS')).toBe(true);
      expect(inspect(palette)?.metadataBytes).toBe(0);
    });
  });

  describe('corrupt_metadata: an EXIF block whose IFD0 leaves the block', () => {
    type Entry = [tag: number, type: number, count: number, value: number];
    /** A TIFF structure whose header points at `ifd0`; the IFD at 8 holds `entries`, then `tail` bytes. */
    function tiff(entries: Entry[], { ifd0 = 8, tail = 0, order = 'II' } = {}): Buffer {
      const little = order === 'II';
      const block = Buffer.alloc(8 + 2 + entries.length * 12 + 4 + tail);
      block.write(order, 0, 'latin1');
      const u16 = (v: number, at: number) =>
        little ? block.writeUInt16LE(v, at) : block.writeUInt16BE(v, at);
      const u32 = (v: number, at: number) =>
        little ? block.writeUInt32LE(v, at) : block.writeUInt32BE(v, at);
      u16(42, 2);
      u32(ifd0, 4);
      u16(entries.length, 8);
      entries.forEach(([tag, type, count, value], i) => {
        const at = 8 + 2 + i * 12;
        u16(tag, at);
        u16(type, at + 2);
        u32(count, at + 4);
        u32(value, at + 8);
      });
      return block;
    }
    const entriesEnd = (n: number) => 8 + 2 + n * 12 + 4;
    const inJpeg = (block: Buffer) =>
      jpegWithSegments(jpeg, 0xe1, Buffer.concat([Buffer.from('Exif\0\0'), block]), 1);

    it('accepts a block whose values and sub-IFD sit inside it, in either byte order', () => {
      const description: Entry = [0x010e, 2, 20, entriesEnd(2)];
      const exifIfd: Entry = [0x8769, 4, 1, entriesEnd(2) + 20];
      for (const order of ['II', 'MM']) {
        const block = tiff([description, exifIfd], { tail: 20 + 6, order });
        expect(inspect(inJpeg(block))?.metadataBytes).toBe(6 + block.length);
      }
    });

    it.each<[string, () => Buffer, RegExp]>([
      ['a bad byte-order mark', () => Buffer.concat([Buffer.from('XX'), tiff([]).subarray(2)]), /byte-order/],
      ['no TIFF magic number', () => Buffer.from('II+\0\x08\0\0\0\0\0\0\0\0\0', 'latin1'), /magic/],
      ['fewer than 8 bytes', () => Buffer.from('II*\0'), /too few/],
      ['IFD0 past the end', () => tiff([], { ifd0: 4000 }), /IFD0 at offset 4000/],
      ['IFD0 inside the header', () => tiff([], { ifd0: 2 }), /IFD0 at offset 2/],
      [
        'more entries than fit',
        () => Buffer.concat([tiff([]).subarray(0, 8), Buffer.from([0xff, 0xff]), Buffer.alloc(100)]),
        /65535 entries/,
      ],
      ['a string past the end', () => tiff([[0x010e, 2, 20, 4000]]), /tag 0x10e has 20 bytes at offset 4000/],
      ['a 4 GB string', () => tiff([[0x010e, 2, 0xffffffff, 26]], { tail: 10 }), /4294967295 bytes/],
      [
        'rationals one byte past the end',
        () => tiff([[0x011a, 5, 2, entriesEnd(1)]], { tail: 15 }),
        /tag 0x11a/,
      ],
      ['an EXIF sub-IFD pointer past the end', () => tiff([[0x8769, 4, 1, 9000]]), /points to/],
      ['the hostile corpus EXIF', () => hostileExif().subarray(6), /65535 entries/],
    ])('%s', (_name, make, reason) => {
      const block = make();
      for (const bytes of [
        inJpeg(block),
        withPngChunk(png, pngChunk('eXIf', block)),
        webpWithChunk(webp, 'EXIF', block),
      ]) {
        const error = rejectionOf(bytes);
        expect(error.code).toBe('corrupt_metadata');
        expect(String(error.details?.reason)).toMatch(reason);
      }
    });
  });

  describe('truncated_image and corrupt_image: what the walk finds wrong with the container', () => {
    it('rejects a PNG whose text chunk fails its CRC, and one that does not start with IHDR', () => {
      const text = pngChunk('tEXt', Buffer.from('Title\0Blue'));
      text[text.length - 1] = (text[text.length - 1] as number) ^ 1;
      expect(rejectionOf(withPngChunk(png, text)).details).toMatchObject({
        reason: expect.stringMatching(/CRC/),
      });
      const noIhdr = Buffer.concat([
        png.subarray(0, 8),
        pngChunk('tEXt', Buffer.from('a\0b')),
        png.subarray(8),
      ]);
      expect(rejectionOf(noIhdr).code).toBe('corrupt_image');
    });

    it('gives truncated_image when IEND, EOI, the GIF trailer or the RIFF tail is missing', () => {
      for (const [image, cut] of [
        [png, 12],
        [jpeg, 2],
        [gif, 1],
        [webp, 4],
      ] as const)
        expect(rejectionOf(image.subarray(0, image.length - cut)).code).toBe('truncated_image');
    });

    it('gives corrupt_image for JPEG streams out of order and GIF blocks that do not exist', () => {
      const sos = jpeg.indexOf(Buffer.from([0xff, 0xda]));
      const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
      const withoutFrame = Buffer.concat([
        jpeg.subarray(0, sof),
        jpeg.subarray(sof + 2 + jpeg.readUInt16BE(sof + 2)),
      ]);
      expect(rejectionOf(withoutFrame).details).toMatchObject({ reason: 'a scan before any frame header' });
      expect(rejectionOf(Buffer.concat([jpeg.subarray(0, sos), Buffer.from([0xff, 0xd9])])).code).toBe(
        'corrupt_image',
      );
      const badBlock = Buffer.from(gif);
      badBlock[gif.length - 1] = 0x42;
      expect(rejectionOf(Buffer.concat([badBlock, Buffer.from([0x3b])])).code).toBe('corrupt_image');
    });

    it('reads entropy-coded data: stuffed 0xFF00, RSTn and fill bytes are data, the next marker ends it', () => {
      const sof = Buffer.from([0xff, 0xc0, 0, 11, 8, 0, 16, 0, 16, 1, 1, 0x11, 0]);
      const sos = Buffer.from([0xff, 0xda, 0, 8, 1, 1, 0, 0, 63, 0]);
      const scan = Buffer.from([
        0x12, 0xff, 0x00, 0x34, 0xff, 0xd0, 0x56, 0xff, 0xff, 0xd1, 0x78, 0xff, 0x00,
      ]);
      const stream = Buffer.concat([Buffer.from([0xff, 0xd8]), sof, sos, scan, Buffer.from([0xff, 0xd9])]);
      expect(inspect(stream)).toEqual({ format: 'jpeg', end: stream.length, metadataBytes: 0 });
      // A second scan after a table segment, as in progressive files.
      const dht = Buffer.from([0xff, 0xc4, 0, 2]);
      const twoScans = Buffer.concat([
        Buffer.from([0xff, 0xd8]),
        sof,
        sos,
        scan,
        dht,
        sos,
        scan,
        Buffer.from([0xff, 0xd9]),
      ]);
      expect(inspect(twoScans)).toMatchObject({ end: twoScans.length });
      expect(rejectionOf(twoScans.subarray(0, twoScans.length - 2)).code).toBe('truncated_image');
    });

    it('gives truncated_image for a WebP whose RIFF size runs past the file, corrupt_image without image data', () => {
      const longer = Buffer.from(webp);
      longer.writeUInt32LE(webp.length + 100, 4);
      expect(rejectionOf(longer).code).toBe('truncated_image');
      const empty = Buffer.from('RIFF\x04\0\0\0WEBP', 'latin1');
      expect(rejectionOf(empty).details).toMatchObject({ reason: 'no image chunk' });
    });

    it('gives corrupt_image for every cut in the header and truncated_image for every cut in the image data', async () => {
      // Noise, so that image data is most of each file and its last quarter is surely data.
      const noise = () =>
        sharp(randomBytes(64 * 64 * 3, 11), { raw: { width: 64, height: 64, channels: 3 } });
      const images = await Promise.all([
        noise().png().toBuffer(),
        noise().png({ progressive: true }).toBuffer(),
        noise().jpeg().toBuffer(),
        noise().jpeg({ progressive: true }).toBuffer(),
        noise().gif().toBuffer(),
        noise().webp().toBuffer(),
        noise().webp({ lossless: true }).toBuffer(),
      ]);
      for (const image of images) {
        const format = formatOf(image);
        for (let cut = 1; cut < image.length; cut++) {
          const code = verdict(image.subarray(0, cut), format);
          if (cut < 20) expect({ format, cut, code }).toEqual({ format, cut, code: 'corrupt_image' });
          else if (cut >= image.length * 0.75)
            expect({ format, cut, code }).toEqual({ format, cut, code: 'truncated_image' });
          else
            expect({ format, cut, code }).toEqual({
              format,
              cut,
              code: expect.stringMatching(/^(corrupt|truncated)_image$/),
            });
        }
      }
    });
  });

  it('answers only InvalidImage or success for random cuts and byte changes, never a TypeError or RangeError', async () => {
    const corpus = [
      png,
      jpeg,
      gif,
      webp,
      await samples.progressiveJpeg(),
      await base().jpeg().withIccProfile('srgb').withExif(exif).toBuffer(),
      await base().png().withMetadata().toBuffer(),
      await base().webp().withExif(exif).toBuffer(),
      await sharp(await frames(), { join: { animated: true } })
        .gif()
        .toBuffer(),
      withPngChunk(png, pngChunk('zTXt', Buffer.concat([Buffer.from('c\0\0'), deflateSync('some text')]))),
    ];
    const codes = new Set<string>([...INVALID_IMAGE_CODES, ...CATALOGUE_IMAGE_CODES]);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: corpus.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.option(fc.nat(), { nil: undefined }),
        (which, changes, cutAt) => {
          const image = Buffer.from(corpus[which] as Buffer);
          const format = formatOf(image);
          for (const [at, value] of changes) image[at % image.length] = value;
          const bytes = cutAt === undefined ? image : image.subarray(0, cutAt % image.length);
          const code = verdict(bytes, format);
          expect(code === 'ok' || codes.has(code)).toBe(true);
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('extensions must fit the sniffed format', () => {
  it.each(IMAGE_EXTENSIONS.filter((e) => e !== 'svg'))('.%s names a format', (extension) => {
    const formats = Object.entries(EXTENSIONS_BY_FORMAT).filter(([, fits]) => fits.includes(extension));
    expect(formats.length).toBeGreaterThan(0);
  });

  it.each([
    ['catalogue/a/shoe.jpg', 'jpeg'],
    ['catalogue/a/shoe.JPEG', 'jpeg'],
    ['catalogue/shoe.tif', 'tiff'],
    ['catalogue/shoe.heif', 'avif'],
    ['catalogue/shoe.heif', 'heic'],
    ['catalogue/name.with.dots.png', 'png'],
  ] as const)('%s fits %s', (key, format) => {
    expect(() => checkExtension(key, format)).not.toThrow();
  });

  it('names the format, the extension and the extensions that would fit', () => {
    expect(() => checkExtension('catalogue/shoe.webp', 'jpeg')).toThrow(
      expect.objectContaining({
        code: 'extension_mismatch',
        message: 'the file is a jpeg image but its name ends in .webp; name it .jpg or .jpeg',
        details: { format: 'jpeg', extension: 'webp', fits: ['jpg', 'jpeg'] },
      }),
    );
    expect(() => checkExtension('catalogue/shoe.png.gif', 'png')).toThrow(/ends in \.gif; name it \.png/);
  });

  describe('checkCatalogueUpload', () => {
    const outcome = (key: string, bytes: Buffer, maxBytes = 25 * MB) => {
      try {
        return checkCatalogueUpload(key, bytes, { maxBytes }) ? 'walked' : 'left to the embedder';
      } catch (error) {
        if (error instanceof InvalidImage) return error.code;
        throw error;
      }
    };

    it.each<[string, string, () => Promise<Buffer>, string]>([
      ['a JPEG named .webp', 'catalogue/x.webp', samples.jpeg, 'extension_mismatch'],
      [
        'a PNG bomb named .jpg (checked before anything is decoded)',
        'catalogue/x.jpg',
        async () => pngBomb(),
        'extension_mismatch',
      ],
      ['a TIFF named .png', 'catalogue/x.png', () => base().tiff().toBuffer(), 'extension_mismatch'],
      [
        'a PNG + ZIP named .png',
        'catalogue/x.png',
        async () => Buffer.concat([await samples.png(), zipOf('a', Buffer.from('b'), 0)]),
        'polyglot_file',
      ],
      ['a clean PNG', 'catalogue/x.png', samples.png, 'walked'],
      [
        'a TIFF named .tiff (not walked)',
        'catalogue/x.tiff',
        () => base().tiff().toBuffer(),
        'left to the embedder',
      ],
      [
        'a PDF named .png',
        'catalogue/x.png',
        async () => Buffer.from('%PDF-1.4\n%%EOF\n'),
        'left to the embedder',
      ],
      [
        'an SVG named .png',
        'catalogue/x.png',
        async () => Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'),
        'left to the embedder',
      ],
      ['an empty file', 'catalogue/x.png', async () => Buffer.alloc(0), 'left to the embedder'],
      [
        'a BMP named .jpg',
        'catalogue/x.jpg',
        async () => Buffer.concat([Buffer.from('BM'), randomBytes(64)]),
        'left to the embedder',
      ],
    ])('%s: %s', async (_name, key, make, expected) => {
      expect(outcome(key, await make())).toBe(expected);
    });

    it('leaves files over the size limit to the embedder, which calls them file_too_large', async () => {
      const polyglot = Buffer.concat([await samples.png(), Buffer.alloc(2000, 0x41)]);
      expect(outcome('catalogue/x.png', polyglot, polyglot.length)).toBe('polyglot_file');
      expect(outcome('catalogue/x.png', polyglot, polyglot.length - 1)).toBe('left to the embedder');
    });
  });
});
