import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';

/** Real emoji images, labelled by subcategory: the same family the evaluation uses. */
export interface LabelledImage {
  name: string;
  subcategory: string;
  category: string;
  file: string;
}

interface EmojiEntry {
  name: string;
  short_name: string;
  image: string;
  category: string;
  subcategory: string;
  sort_order: number;
  has_img_google?: boolean;
  has_img_twitter?: boolean;
}

export function emojiImages(set: 'google' | 'twitter' = 'google'): LabelledImage[] {
  const pkg = `emoji-datasource-${set}`;
  const root = join(require.resolve(`${pkg}/package.json`), '..');
  const entries = JSON.parse(readFileSync(join(root, 'emoji.json'), 'utf8')) as EmojiEntry[];
  return entries
    .filter((e) => (set === 'google' ? e.has_img_google : e.has_img_twitter))
    .sort((a, b) => a.sort_order - b.sort_order)
    .map((e) => ({
      name: e.short_name,
      subcategory: e.subcategory,
      category: e.category,
      file: join(root, 'img', set, '64', e.image),
    }));
}

/** A catalogue-like photo: an emoji upscaled onto a white canvas and re-encoded as JPEG. */
export async function catalogueJpeg(file: string, side = 1000, quality = 88): Promise<Buffer> {
  return sharp(readFileSync(file))
    .flatten({ background: '#ffffff' })
    .resize(side, side, { kernel: 'lanczos3' })
    .jpeg({ quality })
    .toBuffer();
}

export const solid = (width: number, height: number, colour = '#cc5500') =>
  sharp({ create: { width, height, channels: 3, background: colour } });

export function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** A PNG chunk with its length and CRC. */
export function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A small, valid-looking PNG whose header declares width x height (a decompression bomb). */
export function pngBomb(width = 40_000, height = 40_000): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.writeUInt8(8, 8); // bit depth
  header.writeUInt8(2, 9); // truecolour
  // Rows of zeros compress to almost nothing: a few KB that would inflate to gigabytes.
  const rows = deflateSync(Buffer.alloc((width * 3 + 1) * 64));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', header),
    pngChunk('IDAT', rows),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Deterministic pseudo-random bytes (xorshift), so a failing case can be reproduced. */
export function randomBytes(length: number, seed = 42): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Named edge-case and hostile inputs, each with the code the embedder must answer (or 'ok'). */
export async function badInputCorpus(): Promise<Array<{ name: string; bytes: Buffer; expected: string }>> {
  const jpeg = await solid(256, 256).jpeg().toBuffer();
  const png = await solid(256, 256).png({ compressionLevel: 0 }).toBuffer();
  const frame = (colour: string) => solid(64, 64, colour).png().toBuffer();
  const frames = await Promise.all(['#ff0000', '#00ff00', '#0000ff'].map(frame));
  const heicPath = join(__dirname, '..', 'fixtures', 'sample.heic');
  const heic = readFileSync(heicPath);
  return [
    { name: 'zero bytes', bytes: Buffer.alloc(0), expected: 'empty_file' },
    {
      name: 'truncated JPEG',
      bytes: jpeg.subarray(0, Math.floor(jpeg.length / 2)),
      expected: 'truncated_image',
    },
    {
      name: 'truncated PNG',
      bytes: png.subarray(0, Math.floor(png.length / 2)),
      expected: 'truncated_image',
    },
    {
      name: 'text',
      bytes: Buffer.from('just some text, not a picture\n'.repeat(20)),
      expected: 'not_an_image',
    },
    {
      name: 'PDF',
      bytes: Buffer.from('%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n'),
      expected: 'not_an_image',
    },
    {
      name: 'HTML',
      bytes: Buffer.from('<!DOCTYPE html><html><body><img src=x></body></html>'),
      expected: 'not_an_image',
    },
    { name: 'random bytes', bytes: randomBytes(4096), expected: 'not_an_image' },
    {
      name: 'JPEG magic then garbage',
      bytes: Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(2048, 7)]),
      expected: 'corrupt_image',
    },
    { name: 'decompression bomb 40000x40000', bytes: pngBomb(), expected: 'pixel_limit' },
    { name: '1x1', bytes: await solid(1, 1).png().toBuffer(), expected: 'image_too_small' },
    { name: '10000x10', bytes: await solid(10_000, 10).png().toBuffer(), expected: 'extreme_aspect_ratio' },
    { name: 'HEIC (HEVC)', bytes: heic, expected: 'unsupported_format' },
    {
      name: 'SVG',
      bytes: Buffer.from(
        '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x "x">]><svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><image href="http://169.254.169.254/latest/meta-data"/></svg>',
      ),
      expected: 'svg_not_supported',
    },
    {
      name: 'BMP',
      bytes: Buffer.concat([Buffer.from('BM'), randomBytes(100, 3)]),
      expected: 'unsupported_format',
    },
    {
      name: '16-bit PNG',
      bytes: await solid(128, 96).toColourspace('rgb16').png().toBuffer(),
      expected: 'ok',
    },
    { name: 'greyscale PNG', bytes: await solid(128, 96).greyscale().png().toBuffer(), expected: 'ok' },
    {
      name: 'CMYK JPEG',
      bytes: await solid(128, 96).toColourspace('cmyk').jpeg().toBuffer(),
      expected: 'ok',
    },
    {
      name: 'animated GIF',
      bytes: await sharp(frames, { join: { animated: true } })
        .gif()
        .toBuffer(),
      expected: 'ok',
    },
    {
      name: 'animated WebP',
      bytes: await sharp(frames, { join: { animated: true } })
        .webp()
        .toBuffer(),
      expected: 'ok',
    },
    {
      name: 'PNG with alpha',
      bytes: await sharp({
        create: { width: 64, height: 64, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } },
      })
        .png()
        .toBuffer(),
      expected: 'ok',
    },
    { name: 'AVIF', bytes: await solid(64, 64).avif().toBuffer(), expected: 'ok' },
    { name: 'TIFF', bytes: await solid(64, 64).tiff().toBuffer(), expected: 'ok' },
  ];
}
