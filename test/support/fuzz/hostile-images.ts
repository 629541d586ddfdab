/**
 * Hostile catalogue uploads: polyglots, metadata bombs, lying extensions and headers, keys at the
 * limits of S3. Each kind says what ingestion must make of it: an item rejected with a code, an item
 * that is ready (a valid image, with what legitimate files carry besides the pixels), or nothing at all
 * (not a catalogue image).
 */
import { deflateSync } from 'node:zlib';
import { sniffImageFormat } from '../../../functions/domain/image-format';
import { EXTENSIONS_BY_FORMAT } from '../../../functions/domain/image-structure';
import { badInputCorpus, crc32, pngChunk, solid } from '../images';

export type Expected =
  | { readonly outcome: 'rejected'; readonly code: string }
  | { readonly outcome: 'ready' }
  | { readonly outcome: 'ignored' };

export interface HostileUpload {
  readonly kind: string;
  readonly key: string;
  /** The item the key names; absent when the key names none. */
  readonly itemId?: string;
  readonly bytes: Buffer;
  readonly expected: Expected;
  /**
   * Announced with an S3 notification instead of uploaded: the local S3 cannot store the key. The
   * handler must decide on the key alone.
   */
  readonly notificationOnly?: boolean;
  /** For ready items: the control item (the same image without the payload) it must embed exactly like. */
  readonly embedsLike?: string;
}

const rejected = (code: string): Expected => ({ outcome: 'rejected', code });

const MB = 1024 * 1024;

/** A PNG with `chunk` inserted right after IHDR (where text chunks usually sit). */
export function withPngChunk(png: Buffer, chunk: Buffer): Buffer {
  const afterIhdr = 8 + 8 + 13 + 4;
  return Buffer.concat([png.subarray(0, afterIhdr), chunk, png.subarray(afterIhdr)]);
}

/** A ZIP (stored, one file) whose offsets count `prefixBytes` before it: a proper PNG+ZIP polyglot. */
export function zipOf(name: string, content: Buffer, prefixBytes: number): Buffer {
  const fileName = Buffer.from(name);
  const crc = crc32(content);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(content.length, 18);
  local.writeUInt32LE(content.length, 22);
  local.writeUInt16LE(fileName.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(20, 6);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(content.length, 20);
  central.writeUInt32LE(content.length, 24);
  central.writeUInt16LE(fileName.length, 28);
  central.writeUInt32LE(prefixBytes, 42);
  const centralStart = prefixBytes + local.length + fileName.length + content.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(central.length + fileName.length, 12);
  end.writeUInt32LE(centralStart, 16);
  return Buffer.concat([local, fileName, content, central, fileName, end]);
}

/** `GIF89a/*` + a real GIF stream + `*\/=1;alert(1)`: the classic GIF/JavaScript polyglot. */
export function gifJavaScriptPolyglot(gif: Buffer): Buffer {
  // The logical screen width and height become "/*" and "/*" (10799 x 10799): a JS comment opens.
  const body = Buffer.from(gif);
  body.write('/*/*', 6, 'latin1');
  if (body.subarray(8).toString('latin1').includes('*/'))
    throw new Error('the GIF contains */: pick another colour');
  return Buffer.concat([body, Buffer.from('*/=1;alert(document.domain);', 'latin1')]);
}

/** JPEG segments inserted after SOI, each at most 65533 bytes of payload, up to `bytes` in total. */
export function jpegWithSegments(jpeg: Buffer, marker: number, payload: Buffer, bytes: number): Buffer {
  const segments: Buffer[] = [];
  for (let written = 0; written < bytes; written += payload.length) {
    const header = Buffer.from([0xff, marker, 0, 0]);
    header.writeUInt16BE(payload.length + 2, 2);
    segments.push(header, payload);
  }
  return Buffer.concat([jpeg.subarray(0, 2), ...segments, jpeg.subarray(2)]);
}

/** An APP1 Exif payload whose IFD claims 65535 entries and a string far beyond the segment. */
export function hostileExif(): Buffer {
  const tiff = Buffer.alloc(65_000);
  tiff.write('Exif\0\0II*\0', 0, 'latin1');
  tiff.writeUInt32LE(8, 10);
  tiff.writeUInt16LE(0xffff, 14);
  // Entry 1: ImageDescription, ASCII, 4 GB long, at an offset past the end.
  tiff.writeUInt16LE(0x010e, 16);
  tiff.writeUInt16LE(2, 18);
  tiff.writeUInt32LE(0xffffffff, 20);
  tiff.writeUInt32LE(0x7ffffff0, 24);
  // Entry 2: Orientation 9 (no such orientation).
  tiff.writeUInt16LE(0x0112, 28);
  tiff.writeUInt16LE(3, 30);
  tiff.writeUInt32LE(1, 32);
  tiff.writeUInt16LE(9, 36);
  return tiff;
}

/** Patches the frame header (SOF0..SOF2) of a baseline JPEG to declare width x height. */
function jpegDeclaring(jpeg: Buffer, width: number, height: number): Buffer {
  const patched = Buffer.from(jpeg);
  for (let offset = 2; offset < patched.length - 9; ) {
    const marker = patched[offset + 1] as number;
    const length = patched.readUInt16BE(offset + 2);
    if (marker >= 0xc0 && marker <= 0xc2) {
      patched.writeUInt16BE(height, offset + 5);
      patched.writeUInt16BE(width, offset + 7);
      return patched;
    }
    offset += 2 + length;
  }
  throw new Error('no frame header');
}

/** A greyscale deflate TIFF whose header declares width x height over one tiny strip. */
function tiffBomb(width: number, height: number): Buffer {
  const strip = deflateSync(Buffer.alloc(width * 16));
  const entries: Array<[tag: number, type: number, value: number]> = [
    [256, 4, width],
    [257, 4, height],
    [258, 3, 8],
    [259, 3, 8],
    [262, 3, 1],
    [273, 4, 0],
    [277, 3, 1],
    [278, 4, height],
    [279, 4, strip.length],
  ];
  const ifdSize = 2 + entries.length * 12 + 4;
  const stripOffset = 8 + ifdSize;
  const header = Buffer.alloc(stripOffset);
  header.write('II*\0', 0, 'latin1');
  header.writeUInt32LE(8, 4);
  header.writeUInt16LE(entries.length, 8);
  entries.forEach(([tag, type, value], i) => {
    const at = 10 + i * 12;
    header.writeUInt16LE(tag, at);
    header.writeUInt16LE(type, at + 2);
    header.writeUInt32LE(1, at + 4);
    const stored = tag === 273 ? stripOffset : value;
    if (type === 3) header.writeUInt16LE(stored, at + 8);
    else header.writeUInt32LE(stored, at + 8);
  });
  return Buffer.concat([header, strip]);
}

/** `catalogue/a/b/.../<file>` with as many one-letter folders as fit in S3's 1024-byte key limit. */
function deepKey(fileName: string): string {
  const prefix = 'catalogue/';
  const levels = Math.floor((1024 - prefix.length - Buffer.byteLength(fileName)) / 2);
  const folders = Array.from({ length: levels }, (_, i) => String.fromCharCode(97 + (i % 26)));
  const key = `${prefix}${folders.join('/')}/${fileName}`;
  if (Buffer.byteLength(key) > 1024) throw new Error(`deep key is ${Buffer.byteLength(key)} bytes`);
  return key;
}

/** The segments with `marker` in a JPEG's header (before its first scan), each with marker and length. */
export function jpegSegments(jpeg: Buffer, marker: number): Buffer[] {
  const found: Buffer[] = [];
  for (let offset = 2; offset + 4 <= jpeg.length && jpeg[offset + 1] !== 0xda; ) {
    const end = offset + 2 + jpeg.readUInt16BE(offset + 2);
    if (jpeg[offset + 1] === marker) found.push(jpeg.subarray(offset, end));
    offset = end;
  }
  return found;
}

/**
 * `primary` with a Multi-Picture (MPF) APP2 segment and `secondary` appended after its EOI, the layout
 * phone cameras use for gain maps and depth maps. The MP index here is an empty IFD: enough to name
 * the layout, which is all the structure check looks at.
 */
export function withMultiPicture(primary: Buffer, secondary: Buffer): Buffer {
  const index = Buffer.concat([
    Buffer.from('MPF\0II*\0', 'latin1'),
    Buffer.from([8, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
  ]);
  const header = Buffer.from([0xff, 0xe2, 0, 0]);
  header.writeUInt16BE(index.length + 2, 2);
  return Buffer.concat([primary.subarray(0, 2), header, index, primary.subarray(2), secondary]);
}

/** A GIF with a comment extension of `bytes` bytes (in 255-byte sub-blocks) before its first block. */
export function gifWithComment(gif: Buffer, bytes: number): Buffer {
  const packed = gif[10] as number;
  const firstBlock = 13 + (packed & 0x80 ? 3 << ((packed & 7) + 1) : 0);
  const blocks: Buffer[] = [Buffer.from([0x21, 0xfe])];
  for (let left = bytes; left > 0; left -= 255) {
    const size = Math.min(255, left);
    blocks.push(Buffer.from([size]), Buffer.alloc(size, 0x43));
  }
  blocks.push(Buffer.from([0]));
  return Buffer.concat([gif.subarray(0, firstBlock), ...blocks, gif.subarray(firstBlock)]);
}

/** A WebP with one more RIFF chunk at its end, the RIFF size updated to hold it. */
export function webpWithChunk(webp: Buffer, type: string, data: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.write(type, 0, 'latin1');
  header.writeUInt32LE(data.length, 4);
  const out = Buffer.concat([webp, header, data, Buffer.alloc(data.length & 1)]);
  out.writeUInt32LE(out.length - 8, 4);
  return out;
}

/** The extension a file of this format is named with; .png for what is no image of ours. */
function extensionFor(bytes: Buffer): string {
  const sniffed = sniffImageFormat(bytes);
  if (sniffed.kind !== 'image') return 'png';
  return sniffed.format === 'svg' ? 'svg' : (EXTENSIONS_BY_FORMAT[sniffed.format][0] as string);
}

/** Controls, the embedder's bad inputs, then what an attacker with upload rights tries. */
export async function hostileUploads(): Promise<HostileUpload[]> {
  const png = await solid(96, 96, '#2a7fff').png().toBuffer();
  const gif = await solid(64, 64, '#3366cc').gif().toBuffer();
  const jpeg = await solid(96, 96, '#ff7f2a').jpeg().toBuffer();
  const webp = await solid(96, 96, '#2aff7f').webp().toBuffer();
  const smallJpeg = await solid(64, 64, '#7f2aff').jpeg().toBuffer();
  const described = await solid(96, 96, '#ff7f2a')
    .jpeg()
    .withIccProfile('srgb')
    .withExif({ IFD0: { ImageDescription: 'a red shoe', Copyright: 'Lookalike' } })
    .toBuffer();
  const bombPng = (await badInputCorpus()).find((entry) => entry.expected === 'pixel_limit')?.bytes as Buffer;
  const uploads: HostileUpload[] = [];
  const add = (kind: string, key: string, itemId: string | undefined, bytes: Buffer, expected: Expected) =>
    uploads.push({ kind, key, ...(itemId !== undefined ? { itemId } : {}), bytes, expected });
  const ready = (kind: string, key: string, itemId: string, bytes: Buffer, embedsLike: string) =>
    uploads.push({ kind, key, itemId, bytes, expected: { outcome: 'ready' }, embedsLike });

  add('control: the clean PNG', 'catalogue/control/control-png.png', 'control-png', png, {
    outcome: 'ready',
  });
  add('control: the clean JPEG', 'catalogue/control/control-jpeg.jpg', 'control-jpeg', jpeg, {
    outcome: 'ready',
  });
  add('control: the clean GIF', 'catalogue/control/control-gif.gif', 'control-gif', gif, {
    outcome: 'ready',
  });
  // What legitimate files carry must not trip the catalogue's structure checks.
  ready(
    'control: the JPEG with an EXIF block and an sRGB ICC profile',
    'catalogue/control/jpeg-exif-icc.jpg',
    'jpeg-exif-icc',
    Buffer.concat([
      jpeg.subarray(0, 2),
      ...jpegSegments(described, 0xe1),
      ...jpegSegments(described, 0xe2),
      jpeg.subarray(2),
    ]),
    'control-jpeg',
  );
  ready(
    'control: the JPEG with a 60 KB comment',
    'catalogue/control/jpeg-comment.jpg',
    'jpeg-comment',
    jpegWithSegments(jpeg, 0xfe, Buffer.alloc(60_000, 0x20), 1),
    'control-jpeg',
  );
  ready(
    'control: the JPEG with a second image appended under an MPF index (a phone gain map)',
    'catalogue/control/jpeg-mpf.jpg',
    'jpeg-mpf',
    withMultiPicture(jpeg, smallJpeg),
    'control-jpeg',
  );
  ready(
    'control: the JPEG named .JPEG, with CR LF after its end',
    'catalogue/control/jpeg-upper.JPEG',
    'jpeg-upper',
    Buffer.concat([jpeg, Buffer.from('\r\n')]),
    'control-jpeg',
  );
  ready(
    'control: the PNG with a small tEXt and a zTXt inflating to 200 KB',
    'catalogue/control/png-text-small.png',
    'png-text-small',
    withPngChunk(
      withPngChunk(png, pngChunk('tEXt', Buffer.from('Title\0Blue square', 'latin1'))),
      pngChunk(
        'zTXt',
        Buffer.concat([Buffer.from('Comment\0\0', 'latin1'), deflateSync(Buffer.alloc(200_000, 0x41))]),
      ),
    ),
    'control-png',
  );
  ready(
    'control: the PNG with 8 zero bytes of padding after IEND',
    'catalogue/control/png-padded.png',
    'png-padded',
    Buffer.concat([png, Buffer.alloc(8)]),
    'control-png',
  );
  ready(
    'control: the GIF with a short comment and 8 zero bytes of padding after its trailer',
    'catalogue/control/gif-padded.gif',
    'gif-padded',
    Buffer.concat([gifWithComment(gif, 300), Buffer.alloc(8)]),
    'control-gif',
  );

  for (const [i, entry] of (await badInputCorpus()).entries()) {
    if (entry.expected === 'ok') continue;
    const itemId = `bad-${i}`;
    const code = entry.expected;
    // Named as its format asks, so that each answers the embedder's code, not extension_mismatch.
    add(
      `embedder bad input: ${entry.name}`,
      `catalogue/bad/${itemId}.${extensionFor(entry.bytes)}`,
      itemId,
      entry.bytes,
      rejected(code),
    );
  }

  const html = Buffer.from('<html><body><script>alert(document.cookie)</script></body></html>');
  add(
    'polyglot: valid PNG + ZIP (with an HTML file) appended',
    'catalogue/poly/png-zip.png',
    'png-zip',
    Buffer.concat([png, zipOf('index.html', html, png.length)]),
    rejected('polyglot_file'),
  );
  add(
    'polyglot: valid PNG + HTML appended',
    'catalogue/poly/png-html.png',
    'png-html',
    Buffer.concat([png, html]),
    rejected('polyglot_file'),
  );
  add(
    'polyglot: GIF that is valid JavaScript (GIF89a/*...*/=1;alert())',
    'catalogue/poly/gif-js.gif',
    'gif-js',
    gifJavaScriptPolyglot(gif),
    rejected('polyglot_file'),
  );
  add(
    'polyglot: valid JPEG + PDF appended',
    'catalogue/poly/jpeg-pdf.jpg',
    'jpeg-pdf',
    Buffer.concat([jpeg, Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n')]),
    rejected('polyglot_file'),
  );
  add(
    'polyglot: valid WebP + ZIP appended',
    'catalogue/poly/webp-zip.webp',
    'webp-zip',
    Buffer.concat([webp, zipOf('index.html', html, webp.length)]),
    rejected('polyglot_file'),
  );
  add(
    'polyglot: HTML page with a PNG signature in front',
    'catalogue/poly/sig-html.png',
    'sig-html',
    Buffer.concat([png.subarray(0, 8), html]),
    rejected('corrupt_image'),
  );

  const text = Buffer.concat([Buffer.from('Comment\0', 'latin1'), Buffer.alloc(5 * MB, 0x41)]);
  add(
    'huge metadata: PNG with a 5 MB tEXt chunk',
    'catalogue/meta/png-text.png',
    'png-text',
    withPngChunk(png, pngChunk('tEXt', text)),
    rejected('metadata_too_large'),
  );
  const compressed = Buffer.concat([
    Buffer.from('Comment\0\0', 'latin1'),
    deflateSync(Buffer.alloc(100 * MB, 0x41), { level: 9 }),
  ]);
  add(
    'huge metadata: PNG with a zTXt chunk inflating to 100 MB',
    'catalogue/meta/png-ztxt.png',
    'png-ztxt',
    withPngChunk(png, pngChunk('zTXt', compressed)),
    rejected('metadata_too_large'),
  );
  add(
    'huge metadata: JPEG with 5 MB of COM segments',
    'catalogue/meta/jpeg-com.jpg',
    'jpeg-com',
    jpegWithSegments(jpeg, 0xfe, Buffer.alloc(65_533, 0x42), 5 * MB),
    rejected('metadata_too_large'),
  );
  add(
    'huge metadata: GIF with a 2 MB comment extension',
    'catalogue/meta/gif-comment.gif',
    'gif-comment',
    gifWithComment(gif, 2 * MB),
    rejected('metadata_too_large'),
  );
  add(
    'huge metadata: JPEG with a lying 64 KB EXIF segment (65535 entries, 4 GB string)',
    'catalogue/meta/jpeg-exif.jpg',
    'jpeg-exif',
    jpegWithSegments(jpeg, 0xe1, hostileExif(), 1),
    rejected('corrupt_metadata'),
  );
  add(
    'lying metadata: PNG eXIf chunk whose IFD0 lies past its end',
    'catalogue/meta/png-exif.png',
    'png-exif',
    withPngChunk(png, pngChunk('eXIf', Buffer.from([0x4d, 0x4d, 0, 42, 0x7f, 0xff, 0xff, 0xff]))),
    rejected('corrupt_metadata'),
  );

  add(
    'wrong extension: PNG bomb named .jpg',
    'catalogue/ext/png-as-jpg.jpg',
    'png-as-jpg',
    bombPng,
    rejected('extension_mismatch'),
  );
  add(
    'wrong extension: JPEG named .webp',
    'catalogue/ext/jpeg-as-webp.webp',
    'jpeg-as-webp',
    jpeg,
    rejected('extension_mismatch'),
  );
  add(
    'wrong extension: PNG named .svg',
    'catalogue/ext/png-as-svg.svg',
    'png-as-svg',
    png,
    rejected('extension_mismatch'),
  );
  add(
    'wrong extension: PDF named .png',
    'catalogue/ext/pdf-as-png.png',
    'pdf-as-png',
    Buffer.from('%PDF-1.4\n%%EOF\n'),
    rejected('not_an_image'),
  );

  add(
    'deep key: ~500 folder levels, 1023-byte key',
    deepKey('deep-nest.png'),
    'deep-nest',
    bombPng,
    rejected('pixel_limit'),
  );
  add('key of dots: catalogue/....', 'catalogue/....', undefined, png, { outcome: 'ignored' });
  add(
    'key of dots: catalogue/...png (item "..")',
    'catalogue/...png',
    '..',
    Buffer.from('....'),
    rejected('not_an_image'),
  );
  // s3rver stores each object as a file named after the key's last segment, and Linux caps a file
  // name at 255 bytes: longer ids than this cannot be uploaded locally, only announced (below).
  const longestLocal = 'L'.repeat(228);
  add(
    'long item id: 228 bytes',
    `catalogue/${longestLocal}.png`,
    longestLocal,
    await solid(1, 1).png().toBuffer(),
    rejected('image_too_small'),
  );
  for (const length of [513, 1000]) {
    uploads.push({
      kind: `long item id: ${length} bytes, over the 512-byte limit (notification only)`,
      key: `catalogue/${'M'.repeat(length)}.png`,
      bytes: png,
      expected: { outcome: 'ignored' },
      notificationOnly: true,
    });
  }
  add(
    '0-byte object named .png',
    'catalogue/empty/zero.png',
    'zero',
    Buffer.alloc(0),
    rejected('empty_file'),
  );
  const big = Buffer.alloc(30 * MB);
  png.copy(big);
  add(
    '30 MB file (limit 25 MB)',
    'catalogue/big/thirty-mb.png',
    'thirty-mb',
    big,
    rejected('file_too_large'),
  );
  add(
    'TIFF bomb: 100000 x 100000 deflate strip',
    'catalogue/bomb/tiff-bomb.tif',
    'tiff-bomb',
    tiffBomb(100_000, 100_000),
    rejected('pixel_limit'),
  );
  add(
    'JPEG declaring 65500 x 65500',
    'catalogue/bomb/jpeg-65500.jpg',
    'jpeg-65500',
    jpegDeclaring(smallJpeg, 65_500, 65_500),
    rejected('pixel_limit'),
  );
  add(
    'SVG with external references (file://, metadata endpoint, remote use)',
    'catalogue/svg/external.svg',
    'external',
    Buffer.from(
      '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="512" height="512">' +
        '<image xlink:href="file:///etc/passwd" width="512" height="512"/>' +
        '<image href="http://169.254.169.254/latest/meta-data/iam/security-credentials/" width="10" height="10"/>' +
        '<use href="http://127.0.0.1:1/sprite.svg#icon"/></svg>',
    ),
    rejected('svg_not_supported'),
  );
  add('not an image extension: catalogue/readme.txt', 'catalogue/readme.txt', undefined, png, {
    outcome: 'ignored',
  });
  add('image name with a trailing extension: photo.png.bak', 'catalogue/photo.png.bak', undefined, png, {
    outcome: 'ignored',
  });
  return uploads;
}
