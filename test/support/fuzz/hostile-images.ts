/**
 * Hostile catalogue uploads: polyglots, metadata bombs, lying extensions and headers, keys at the
 * limits of S3. Each kind says what ingestion must make of it: an item rejected with a code, an item
 * that is ready (a valid image whatever else the file holds), or nothing at all (not a catalogue image).
 */
import { deflateSync } from 'node:zlib';
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
function withPngChunk(png: Buffer, chunk: Buffer): Buffer {
  const afterIhdr = 8 + 8 + 13 + 4;
  return Buffer.concat([png.subarray(0, afterIhdr), chunk, png.subarray(afterIhdr)]);
}

/** A ZIP (stored, one file) whose offsets count `prefixBytes` before it: a proper PNG+ZIP polyglot. */
function zipOf(name: string, content: Buffer, prefixBytes: number): Buffer {
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
function gifJavaScriptPolyglot(gif: Buffer): Buffer {
  // The logical screen width and height become "/*" and "/*" (10799 x 10799): a JS comment opens.
  const body = Buffer.from(gif);
  body.write('/*/*', 6, 'latin1');
  if (body.subarray(8).toString('latin1').includes('*/'))
    throw new Error('the GIF contains */: pick another colour');
  return Buffer.concat([body, Buffer.from('*/=1;alert(document.domain);', 'latin1')]);
}

/** JPEG segments inserted after SOI, each at most 65533 bytes of payload, up to `bytes` in total. */
function jpegWithSegments(jpeg: Buffer, marker: number, payload: Buffer, bytes: number): Buffer {
  const segments: Buffer[] = [];
  for (let written = 0; written < bytes; written += payload.length) {
    const header = Buffer.from([0xff, marker, 0, 0]);
    header.writeUInt16BE(payload.length + 2, 2);
    segments.push(header, payload);
  }
  return Buffer.concat([jpeg.subarray(0, 2), ...segments, jpeg.subarray(2)]);
}

/** An APP1 Exif payload whose IFD claims 65535 entries and a string far beyond the segment. */
function hostileExif(): Buffer {
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

/** Controls, the embedder's bad inputs, then what an attacker with upload rights tries. */
export async function hostileUploads(): Promise<HostileUpload[]> {
  const png = await solid(96, 96, '#2a7fff').png().toBuffer();
  const gif = await solid(64, 64, '#3366cc').gif().toBuffer();
  const jpeg = await solid(96, 96, '#ff7f2a').jpeg().toBuffer();
  const smallJpeg = await solid(64, 64, '#7f2aff').jpeg().toBuffer();
  const bombPng = (await badInputCorpus()).find((entry) => entry.expected === 'pixel_limit')?.bytes as Buffer;
  const uploads: HostileUpload[] = [];
  const add = (kind: string, key: string, itemId: string | undefined, bytes: Buffer, expected: Expected) =>
    uploads.push({ kind, key, ...(itemId !== undefined ? { itemId } : {}), bytes, expected });

  add('control: the clean PNG', 'catalogue/control/control-png.png', 'control-png', png, {
    outcome: 'ready',
  });
  add('control: the clean JPEG', 'catalogue/control/control-jpeg.jpg', 'control-jpeg', jpeg, {
    outcome: 'ready',
  });
  add('control: the clean GIF', 'catalogue/control/control-gif.gif', 'control-gif', gif, {
    outcome: 'ready',
  });

  for (const [i, entry] of (await badInputCorpus()).entries()) {
    if (entry.expected === 'ok') continue;
    const itemId = `bad-${i}`;
    const code = entry.expected;
    add(
      `embedder bad input: ${entry.name}`,
      `catalogue/bad/${itemId}.png`,
      itemId,
      entry.bytes,
      rejected(code),
    );
  }

  const html = Buffer.from('<html><body><script>alert(document.cookie)</script></body></html>');
  uploads.push({
    kind: 'polyglot: valid PNG + ZIP (with an HTML file) appended',
    key: 'catalogue/poly/png-zip.png',
    itemId: 'png-zip',
    bytes: Buffer.concat([png, zipOf('index.html', html, png.length)]),
    expected: { outcome: 'ready' },
    embedsLike: 'control-png',
  });
  uploads.push({
    kind: 'polyglot: valid PNG + HTML appended',
    key: 'catalogue/poly/png-html.png',
    itemId: 'png-html',
    bytes: Buffer.concat([png, html]),
    expected: { outcome: 'ready' },
    embedsLike: 'control-png',
  });
  uploads.push({
    // libvips sizes a GIF by its frames, not by the logical screen the JavaScript comment lives in.
    kind: 'polyglot: GIF that is valid JavaScript (GIF89a/*...*/=1;alert())',
    key: 'catalogue/poly/gif-js.gif',
    itemId: 'gif-js',
    bytes: gifJavaScriptPolyglot(gif),
    expected: { outcome: 'ready' },
    embedsLike: 'control-gif',
  });
  add(
    'polyglot: HTML page with a PNG signature in front',
    'catalogue/poly/sig-html.png',
    'sig-html',
    Buffer.concat([png.subarray(0, 8), html]),
    rejected('corrupt_image'),
  );

  const text = Buffer.concat([Buffer.from('Comment\0', 'latin1'), Buffer.alloc(5 * MB, 0x41)]);
  uploads.push({
    kind: 'huge metadata: PNG with a 5 MB tEXt chunk',
    key: 'catalogue/meta/png-text.png',
    itemId: 'png-text',
    bytes: withPngChunk(png, pngChunk('tEXt', text)),
    expected: { outcome: 'ready' },
    embedsLike: 'control-png',
  });
  const compressed = Buffer.concat([
    Buffer.from('Comment\0\0', 'latin1'),
    deflateSync(Buffer.alloc(100 * MB, 0x41), { level: 9 }),
  ]);
  uploads.push({
    kind: 'huge metadata: PNG with a zTXt chunk inflating to 100 MB',
    key: 'catalogue/meta/png-ztxt.png',
    itemId: 'png-ztxt',
    bytes: withPngChunk(png, pngChunk('zTXt', compressed)),
    expected: { outcome: 'ready' },
    embedsLike: 'control-png',
  });
  uploads.push({
    kind: 'huge metadata: JPEG with 5 MB of COM segments',
    key: 'catalogue/meta/jpeg-com.jpg',
    itemId: 'jpeg-com',
    bytes: jpegWithSegments(jpeg, 0xfe, Buffer.alloc(65_533, 0x42), 5 * MB),
    expected: { outcome: 'ready' },
    embedsLike: 'control-jpeg',
  });
  uploads.push({
    kind: 'huge metadata: JPEG with a lying 64 KB EXIF segment (65535 entries, 4 GB string)',
    key: 'catalogue/meta/jpeg-exif.jpg',
    itemId: 'jpeg-exif',
    bytes: jpegWithSegments(jpeg, 0xe1, hostileExif(), 1),
    expected: { outcome: 'ready' },
    embedsLike: 'control-jpeg',
  });

  add(
    'wrong extension: PNG bomb named .jpg',
    'catalogue/ext/png-as-jpg.jpg',
    'png-as-jpg',
    bombPng,
    rejected('pixel_limit'),
  );
  uploads.push({
    kind: 'wrong extension: JPEG named .webp',
    key: 'catalogue/ext/jpeg-as-webp.webp',
    itemId: 'jpeg-as-webp',
    bytes: jpeg,
    expected: { outcome: 'ready' },
    embedsLike: 'control-jpeg',
  });
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
