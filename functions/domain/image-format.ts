/**
 * Sniffs the container format from the first bytes, before any decoder sees the file. File names and
 * Content-Type headers are not trusted: a catalogue tool may upload a PDF as `shoe.jpg`.
 */
export type ImageFormat = 'jpeg' | 'png' | 'gif' | 'webp' | 'tiff' | 'avif' | 'heic' | 'svg';

export type SniffResult =
  | { kind: 'image'; format: ImageFormat }
  | { kind: 'unsupported'; format: string }
  | { kind: 'not_an_image'; looksLike: string };

const startsWith = (bytes: Uint8Array, signature: number[], offset = 0): boolean =>
  bytes.length >= offset + signature.length && signature.every((b, i) => bytes[offset + i] === b);

const ascii = (bytes: Uint8Array, start: number, end: number): string =>
  Buffer.from(bytes.subarray(start, Math.min(end, bytes.length))).toString('latin1');

const HEIC_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'mif1', 'msf1']);
const AVIF_BRANDS = new Set(['avif', 'avis']);

export function sniffImageFormat(bytes: Uint8Array): SniffResult {
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return { kind: 'image', format: 'jpeg' };
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
    return { kind: 'image', format: 'png' };
  if (ascii(bytes, 0, 6) === 'GIF87a' || ascii(bytes, 0, 6) === 'GIF89a')
    return { kind: 'image', format: 'gif' };
  if (ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 12) === 'WEBP')
    return { kind: 'image', format: 'webp' };
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a])) {
    return { kind: 'image', format: 'tiff' };
  }
  if (ascii(bytes, 4, 8) === 'ftyp') {
    // ISO-BMFF: the major brand and the compatible brands say whether this is AVIF (AV1) or HEIC (HEVC).
    const boxSize = Math.min(
      bytes.length,
      Math.max(16, new DataView(bytes.buffer, bytes.byteOffset).getUint32(0)),
    );
    const brands: string[] = [ascii(bytes, 8, 12)];
    for (let offset = 16; offset + 4 <= boxSize; offset += 4) brands.push(ascii(bytes, offset, offset + 4));
    if (brands.some((b) => AVIF_BRANDS.has(b))) return { kind: 'image', format: 'avif' };
    if (brands.some((b) => HEIC_BRANDS.has(b))) return { kind: 'image', format: 'heic' };
    return { kind: 'unsupported', format: `isobmff:${brands[0] ?? ''}`.trim() };
  }
  if (ascii(bytes, 0, 4) === '8BPS') return { kind: 'unsupported', format: 'psd' };
  if (startsWith(bytes, [0x42, 0x4d])) return { kind: 'unsupported', format: 'bmp' };
  if (startsWith(bytes, [0x00, 0x00, 0x01, 0x00])) return { kind: 'unsupported', format: 'ico' };
  if (ascii(bytes, 0, 5) === '%PDF-') return { kind: 'not_an_image', looksLike: 'pdf' };
  if (startsWith(bytes, [0x50, 0x4b, 0x03, 0x04])) return { kind: 'not_an_image', looksLike: 'zip' };
  if (startsWith(bytes, [0x1f, 0x8b])) return { kind: 'not_an_image', looksLike: 'gzip' };

  const head = ascii(bytes, 0, 1024)
    .replace(/^\uFEFF/, '')
    .trimStart()
    .toLowerCase();
  if (head.startsWith('<svg') || (head.startsWith('<?xml') && head.includes('<svg'))) {
    return { kind: 'image', format: 'svg' };
  }
  if (head.startsWith('<!doctype html') || head.startsWith('<html'))
    return { kind: 'not_an_image', looksLike: 'html' };
  if (head.startsWith('<')) return { kind: 'not_an_image', looksLike: 'xml' };
  return { kind: 'not_an_image', looksLike: looksLikeText(bytes) ? 'text' : 'binary' };
}

function looksLikeText(bytes: Uint8Array): boolean {
  const sample = bytes.subarray(0, 512);
  let printable = 0;
  for (const b of sample)
    if (b === 9 || b === 10 || b === 13 || (b >= 32 && b < 127) || b >= 128) printable++;
  return sample.length > 0 && printable / sample.length > 0.95;
}

/** What the embedder accepts; everything outside gets an InvalidImage with its own code. */
export interface ImageLimits {
  /** Larger files are refused before decoding. */
  maxBytes: number;
  /** Width x height as declared by the header; checked before decoding, so bombs cost nothing. */
  maxPixels: number;
  /** Tracking pixels and icons say nothing about an item. */
  minSide: number;
  /** Banners and strips squashed to a square model input give meaningless vectors. */
  maxAspectRatio: number;
}

export const DEFAULT_IMAGE_LIMITS: ImageLimits = {
  maxBytes: 25 * 1024 * 1024,
  maxPixels: 50_000_000,
  minSide: 16,
  maxAspectRatio: 20,
};
