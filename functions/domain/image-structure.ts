/**
 * Strict checks for the files the catalogue stores, run before any decoder sees them: the key's
 * extension must fit the sniffed format, and a walk over the container (PNG chunks, JPEG markers and
 * scans, GIF blocks, WebP RIFF chunks) must find one well-formed image, nothing after its end, a
 * bounded amount of metadata and an EXIF block whose IFD0 stays inside itself. Image search does not
 * run these: it never stores the file, so it takes whatever the decoder can read.
 *
 * The walk reads lengths and offsets only; it never decodes pixels and never allocates per byte.
 * Verdicts made here do not depend on libvips, whose one error buffer per process can give two
 * failing decodes running at once each other's messages.
 */
import { inflateSync } from 'node:zlib';
import { InvalidImage } from './errors';
import { type ImageFormat, sniffImageFormat } from './image-format';

/** Text, EXIF, XMP, ICC, comments and application data a catalogue image may carry in total. */
export const MAX_CATALOGUE_METADATA_BYTES = 1024 * 1024;
/** Zero, CR, LF or space bytes tolerated after an image's end (some tools pad files). */
export const MAX_TRAILING_PADDING_BYTES = 16;

export interface StructureLimits {
  /** @default MAX_CATALOGUE_METADATA_BYTES */
  maxMetadataBytes: number;
  /** @default MAX_TRAILING_PADDING_BYTES */
  maxPaddingBytes: number;
}

/** What the walk found in a well-formed file. */
export interface ImageStructure {
  format: ImageFormat;
  /** Offset just past the image's end marker (or RIFF size); padding may follow. */
  end: number;
  /** Metadata bytes, compressed text counted at its inflated size. */
  metadataBytes: number;
}

/** The extensions a catalogue key may end in for each format the embedder can be handed. */
export const EXTENSIONS_BY_FORMAT: Readonly<Record<Exclude<ImageFormat, 'svg'>, readonly string[]>> = {
  jpeg: ['jpg', 'jpeg'],
  png: ['png'],
  webp: ['webp'],
  gif: ['gif'],
  tiff: ['tif', 'tiff'],
  // AVIF is a HEIF profile, so .heif fits it as well as HEVC-coded HEIC.
  avif: ['avif', 'heif'],
  heic: ['heic', 'heif'],
};

/**
 * Everything ingestion checks beyond what the embedder does. Empty, oversized and non-image files and
 * SVG are left to the embedder, which names what they are; so is everything the walk does not cover
 * (TIFF, AVIF, HEIC beyond their extension).
 */
export function checkCatalogueUpload(
  key: string,
  bytes: Uint8Array,
  options: { maxBytes: number; limits?: Partial<StructureLimits> },
): ImageStructure | undefined {
  if (bytes.length === 0 || bytes.length > options.maxBytes) return undefined;
  const sniffed = sniffImageFormat(bytes);
  if (sniffed.kind !== 'image' || sniffed.format === 'svg') return undefined;
  checkExtension(key, sniffed.format);
  return inspectCatalogueImage(bytes, sniffed.format, options.limits);
}

/** The key's extension must be one that names the sniffed format. */
export function checkExtension(key: string, format: Exclude<ImageFormat, 'svg'>): void {
  const fileName = key.slice(key.lastIndexOf('/') + 1);
  const dot = fileName.lastIndexOf('.');
  const extension = dot < 0 ? '' : fileName.slice(dot + 1).toLowerCase();
  const fitting = EXTENSIONS_BY_FORMAT[format];
  if (fitting.includes(extension)) return;
  const named = extension ? `ends in .${extension}` : 'has no extension';
  throw new InvalidImage(
    'extension_mismatch',
    `the file is a ${format} image but its name ${named}; name it ${fitting.map((e) => `.${e}`).join(' or ')}`,
    { format, extension, fits: fitting },
  );
}

/**
 * Walks a PNG, JPEG, GIF or WebP container and throws InvalidImage (truncated_image, corrupt_image,
 * polyglot_file, metadata_too_large or corrupt_metadata) unless it holds exactly one well-formed
 * image. Other formats are not walked: undefined.
 */
export function inspectCatalogueImage(
  bytes: Uint8Array,
  format: ImageFormat,
  limits: Partial<StructureLimits> = {},
): ImageStructure | undefined {
  const walk = new Walk(bytes, format, {
    maxMetadataBytes: limits.maxMetadataBytes ?? MAX_CATALOGUE_METADATA_BYTES,
    maxPaddingBytes: limits.maxPaddingBytes ?? MAX_TRAILING_PADDING_BYTES,
  });
  let end: number;
  if (format === 'png') end = walkPng(walk);
  else if (format === 'jpeg') end = walkJpegFile(walk);
  else if (format === 'gif') end = walkGif(walk);
  else if (format === 'webp') end = walkWebp(walk);
  else return undefined;
  walk.checkTail(end);
  return { format, end, metadataBytes: walk.metadataBytes };
}

class Walk {
  metadataBytes = 0;

  constructor(
    readonly bytes: Uint8Array,
    readonly format: ImageFormat,
    readonly limits: StructureLimits,
  ) {}

  get length(): number {
    return this.bytes.length;
  }

  get metadataBudget(): number {
    return this.limits.maxMetadataBytes - this.metadataBytes;
  }

  addMetadata(count: number, where: string): void {
    this.metadataBytes += count;
    if (this.metadataBytes > this.limits.maxMetadataBytes) {
      throw new InvalidImage(
        'metadata_too_large',
        `the ${this.format} file carries more than ${this.limits.maxMetadataBytes} bytes of metadata (reached in ${where})`,
        { format: this.format, limit: this.limits.maxMetadataBytes, reachedIn: where },
      );
    }
  }

  corrupt(reason: string, offset: number): InvalidImage {
    return new InvalidImage('corrupt_image', `the ${this.format} file is corrupt: ${reason}`, {
      format: this.format,
      reason,
      offset,
    });
  }

  /**
   * The file ends inside `what`. Once image data has begun this is a cut file; before that, nothing
   * of the image is there and a cut header cannot be told from garbage, so it is corruption (as
   * libvips reports a JPEG that ends in its header).
   */
  endsEarly(what: string, imageDataBegun: boolean): InvalidImage {
    if (!imageDataBegun) return this.corrupt(`the file ends inside its header (${what})`, this.length);
    return new InvalidImage(
      'truncated_image',
      `the ${this.format} file is truncated: it ends inside ${what}`,
      {
        format: this.format,
        bytes: this.length,
      },
    );
  }

  /** Nothing but a little padding may follow the image. */
  checkTail(end: number): void {
    const trailing = this.length - end;
    if (trailing <= 0) return;
    if (trailing <= this.limits.maxPaddingBytes && isPadding(this.bytes, end, this.length)) return;
    const looksLike = describeTail(this.bytes.subarray(end));
    throw new InvalidImage(
      'polyglot_file',
      `the ${this.format} image ends at byte ${end} but the file carries ${trailing} more bytes${looksLike ? ` that look like ${looksLike}` : ''}`,
      { format: this.format, trailingBytes: trailing, ...(looksLike ? { looksLike } : {}) },
    );
  }
}

const isPaddingByte = (b: number | undefined) => b === 0x00 || b === 0x0a || b === 0x0d || b === 0x20;

function isPadding(bytes: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (!isPaddingByte(bytes[i])) return false;
  return true;
}

const u16be = (b: Uint8Array, at: number) => ((b[at] as number) << 8) | (b[at + 1] as number);
const u32be = (b: Uint8Array, at: number) =>
  (((b[at] as number) << 24) |
    ((b[at + 1] as number) << 16) |
    ((b[at + 2] as number) << 8) |
    (b[at + 3] as number)) >>>
  0;
const u16le = (b: Uint8Array, at: number) => (b[at] as number) | ((b[at + 1] as number) << 8);
const u32le = (b: Uint8Array, at: number) =>
  ((b[at] as number) |
    ((b[at + 1] as number) << 8) |
    ((b[at + 2] as number) << 16) |
    ((b[at + 3] as number) << 24)) >>>
  0;
const latin1 = (b: Uint8Array, start: number, end: number) =>
  String.fromCharCode(...b.subarray(start, Math.min(end, b.length)));
const fourcc = (s: string) => u32be(Buffer.from(s, 'latin1'), 0);

/** What trailing bytes start with past any padding (or with it: an MP4 box size starts with zeros). */
function describeTail(tail: Uint8Array): string | undefined {
  let start = 0;
  while (start < tail.length && start < 1024 && isPaddingByte(tail[start])) start++;
  return describeHead(tail.subarray(start, start + 1024)) ?? describeHead(tail.subarray(0, 1024));
}

function describeHead(head: Uint8Array): string | undefined {
  const text = latin1(head, 0, 16);
  // Local file header, empty archive, spanned archive.
  if (head[0] === 0x50 && head[1] === 0x4b && [3, 5, 7].includes(head[2] as number)) return 'zip';
  if (text.startsWith('Rar!')) return 'rar';
  if (text.startsWith('7z\xbc\xaf')) return '7z';
  if (text.startsWith('\x7fELF') || text.startsWith('MZ')) return 'executable';
  if (text.startsWith('<?php')) return 'php';
  if (/^<script/i.test(text)) return 'script';
  const sniffed = sniffImageFormat(head);
  if (sniffed.kind === 'image') return sniffed.format;
  if (sniffed.kind === 'unsupported') return sniffed.format.startsWith('isobmff:') ? 'mp4' : sniffed.format;
  if (sniffed.looksLike === 'text') return /[;=(){}]/.test(latin1(head, 0, head.length)) ? 'script' : 'text';
  return sniffed.looksLike === 'binary' ? undefined : sniffed.looksLike;
}

// PNG -----------------------------------------------------------------------------------------------

const PNG = {
  IHDR: fourcc('IHDR'),
  IDAT: fourcc('IDAT'),
  IEND: fourcc('IEND'),
  fdAT: fourcc('fdAT'),
  tEXt: fourcc('tEXt'),
  zTXt: fourcc('zTXt'),
  iTXt: fourcc('iTXt'),
  iCCP: fourcc('iCCP'),
  eXIf: fourcc('eXIf'),
};
/**
 * Critical chunks and the small standard ones that say how to render the pixels: not metadata, unless
 * one is larger than any legitimate one (PLTE, the largest, holds at most 768 bytes) and so a payload.
 */
const MAX_PNG_RENDERING_CHUNK_BYTES = 1024;
const PNG_IMAGE_CHUNKS = new Set(
  [
    'IHDR',
    'PLTE',
    'IDAT',
    'IEND',
    'tRNS',
    'cHRM',
    'gAMA',
    'sBIT',
    'sRGB',
    'bKGD',
    'hIST',
    'pHYs',
    'tIME',
    'cICP',
    'mDCV',
    'mDCv',
    'cLLI',
    'cLLi',
    'acTL',
    'fcTL',
    'fdAT',
  ].map(fourcc),
);
const isLetter = (b: number | undefined) =>
  b !== undefined && ((b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a));

function walkPng(walk: Walk): number {
  const { bytes } = walk;
  let offset = 8;
  let imageData = false;
  for (let first = true; ; first = false) {
    if (offset + 8 > bytes.length) throw walk.endsEarly('a chunk header', imageData);
    const length = u32be(bytes, offset);
    const type = u32be(bytes, offset + 4);
    if (
      !isLetter(bytes[offset + 4]) ||
      !isLetter(bytes[offset + 5]) ||
      !isLetter(bytes[offset + 6]) ||
      !isLetter(bytes[offset + 7])
    )
      throw walk.corrupt(`a chunk at byte ${offset} has no valid type`, offset);
    const name = latin1(bytes, offset + 4, offset + 8);
    if (first && type !== PNG.IHDR) throw walk.corrupt('the first chunk is not IHDR', offset);
    if (length > 0x7fffffff) throw walk.corrupt(`the ${name} chunk at byte ${offset} is too long`, offset);
    const dataStart = offset + 8;
    const dataEnd = dataStart + length;
    if (type === PNG.IDAT) imageData = true;
    if (dataEnd + 4 > bytes.length) throw walk.endsEarly(`its ${name} chunk`, imageData);
    const data = bytes.subarray(dataStart, dataEnd);
    if (type === PNG.IEND) {
      if (!imageData) throw walk.corrupt('IEND before any IDAT', offset);
      return dataEnd + 4;
    }
    const pixels = type === PNG.IDAT || type === PNG.fdAT;
    if (!pixels && (!PNG_IMAGE_CHUNKS.has(type) || length > MAX_PNG_RENDERING_CHUNK_BYTES))
      countPngMetadata(walk, type, name, data);
    // Image data is left to the decoder: a CRC over megabytes of IDAT is not worth its time here.
    if (!pixels && crc32(bytes, offset + 4, dataEnd) !== u32be(bytes, dataEnd))
      throw walk.corrupt(`the ${name} chunk at byte ${offset} fails its CRC`, offset);
    offset = dataEnd + 4;
  }
}

function countPngMetadata(walk: Walk, type: number, name: string, data: Uint8Array): void {
  if (type === PNG.eXIf) {
    checkExif(walk, data, 'eXIf chunk');
    walk.addMetadata(data.length, 'an eXIf chunk');
    return;
  }
  const keywordEnd = data.indexOf(0);
  let compressedFrom = -1;
  if ((type === PNG.zTXt || type === PNG.iCCP) && keywordEnd >= 0) compressedFrom = keywordEnd + 2;
  if (type === PNG.iTXt && keywordEnd >= 0 && data[keywordEnd + 1] === 1) {
    const languageEnd = data.indexOf(0, keywordEnd + 3);
    const translatedEnd = languageEnd < 0 ? -1 : data.indexOf(0, languageEnd + 1);
    if (translatedEnd >= 0) compressedFrom = translatedEnd + 1;
  }
  if (compressedFrom < 0 || compressedFrom > data.length) {
    walk.addMetadata(data.length, `a ${name} chunk`);
    return;
  }
  walk.addMetadata(compressedFrom, `a ${name} chunk`);
  walk.addMetadata(
    inflatedSize(data.subarray(compressedFrom), walk.metadataBudget),
    `a ${name} chunk, inflated`,
  );
}

/**
 * Inflated size, or budget + 1 as soon as it is over: a zip bomb stops inflating there. A stream that
 * does not inflate counts at its stored size (the decoder ignores or rejects it; either is fine).
 */
function inflatedSize(compressed: Uint8Array, budget: number): number {
  try {
    return inflateSync(compressed, { maxOutputLength: Math.max(1, budget + 1) }).length;
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') return budget + 1;
    return compressed.length;
  }
}

let crcTable: Int32Array | undefined;

function crc32(bytes: Uint8Array, start: number, end: number): number {
  if (!crcTable) {
    crcTable = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c;
    }
  }
  const table = crcTable;
  let crc = -1;
  for (let i = start; i < end; i++)
    crc = (table[(crc ^ (bytes[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

// JPEG ----------------------------------------------------------------------------------------------

const isRst = (m: number) => m >= 0xd0 && m <= 0xd7;
const isFrame = (m: number) => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
/** Frame headers and the tables a decoder reads (DHT, DAC, DQT, DNL, DRI, DHP, EXP); SOS is handled apart. */
const isCodingSegment = (m: number) => (m >= 0xc0 && m <= 0xcf) || (m >= 0xdb && m <= 0xdf);

/**
 * The primary JPEG, then, when it carries a Multi-Picture (MPF) index as phone cameras write for gain
 * maps, depth maps and stereo pairs, the whole JPEGs appended after it. Anything else after EOI is
 * left for checkTail.
 */
function walkJpegFile(walk: Walk): number {
  const { bytes } = walk;
  const primary = walkJpeg(walk, 0);
  let end = primary.end;
  if (!primary.multiPicture) return end;
  while (end + 3 <= bytes.length && bytes[end] === 0xff && bytes[end + 1] === 0xd8 && bytes[end + 2] === 0xff)
    end = walkJpeg(walk, end).end;
  return end;
}

function walkJpeg(walk: Walk, start: number): { end: number; multiPicture: boolean } {
  const { bytes } = walk;
  let offset = start + 2;
  let frame = false;
  let scanned = false;
  let multiPicture = false;
  for (;;) {
    if (offset >= bytes.length) throw walk.endsEarly('a marker', scanned);
    if (bytes[offset] !== 0xff) throw walk.corrupt(`no marker at byte ${offset}`, offset);
    while (bytes[offset] === 0xff) offset++;
    if (offset >= bytes.length) throw walk.endsEarly('a marker', scanned);
    const marker = bytes[offset++] as number;
    if (marker === 0xd9) {
      if (!scanned) throw walk.corrupt('it ends before any image data', offset);
      return { end: offset, multiPicture };
    }
    if (marker === 0xd8 || marker === 0x00)
      throw walk.corrupt(`a misplaced marker at byte ${offset - 2}`, offset);
    if (isRst(marker) || marker === 0x01) continue;
    if (offset + 2 > bytes.length) throw walk.endsEarly('a segment header', scanned);
    const length = u16be(bytes, offset);
    if (length < 2) throw walk.corrupt(`a segment of length ${length} at byte ${offset - 2}`, offset);
    const segmentEnd = offset + length;
    if (segmentEnd > bytes.length) throw walk.endsEarly('a segment', scanned);
    if (marker === 0xda) {
      if (!frame) throw walk.corrupt('a scan before any frame header', offset);
      scanned = true;
      offset = skipEntropyCodedData(walk, segmentEnd);
      continue;
    }
    if (isFrame(marker)) frame = true;
    if (!isCodingSegment(marker)) {
      // APPn (EXIF, XMP, ICC, MPF...), COM, and reserved markers, which decoders skip.
      if (marker === 0xe1 && startsWithAscii(bytes, offset + 2, 'Exif\0\0'))
        checkExif(walk, bytes.subarray(offset + 8, segmentEnd), 'APP1 Exif segment');
      if (marker === 0xe2 && startsWithAscii(bytes, offset + 2, 'MPF\0')) multiPicture = true;
      walk.addMetadata(length - 2, jpegSegmentName(marker));
    }
    offset = segmentEnd;
  }
}

const jpegSegmentName = (marker: number) =>
  marker === 0xfe
    ? 'a COM segment'
    : marker >= 0xe0 && marker <= 0xef
      ? `an APP${marker - 0xe0} segment`
      : `a segment with marker 0x${marker.toString(16)}`;

/** Offset of the 0xFF that starts the first marker after a scan's entropy-coded data. */
function skipEntropyCodedData(walk: Walk, from: number): number {
  const { bytes } = walk;
  for (let at = from; ; ) {
    const ff = bytes.indexOf(0xff, at);
    if (ff < 0) throw walk.endsEarly('its image data', true);
    let next = ff + 1;
    while (bytes[next] === 0xff) next++;
    if (next >= bytes.length) throw walk.endsEarly('its image data', true);
    const marker = bytes[next] as number;
    // 0xFF00 is a stuffed 0xFF data byte and RSTn markers sit inside the scan.
    if (marker !== 0x00 && !isRst(marker)) return next - 1;
    at = next + 1;
  }
}

function startsWithAscii(bytes: Uint8Array, at: number, text: string): boolean {
  if (at + text.length > bytes.length) return false;
  for (let i = 0; i < text.length; i++) if (bytes[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

// GIF -----------------------------------------------------------------------------------------------

function walkGif(walk: Walk): number {
  const { bytes } = walk;
  if (bytes.length < 13) throw walk.endsEarly('its logical screen descriptor', false);
  const screen = bytes[10] as number;
  let offset = 13 + colourTableSize(screen);
  let imageData = false;
  for (;;) {
    if (offset >= bytes.length) throw walk.endsEarly('its block list', imageData);
    const block = bytes[offset++];
    if (block === 0x3b) {
      if (!imageData) throw walk.corrupt('it ends before any image', offset);
      return offset;
    }
    if (block === 0x21) {
      if (offset >= bytes.length) throw walk.endsEarly('an extension', imageData);
      const label = bytes[offset++] as number;
      // Graphic control says how to render a frame; comment, application, plain-text and unknown
      // extensions carry data.
      offset = skipSubBlocks(walk, offset, imageData, label === 0xf9 ? undefined : gifExtensionName(label));
    } else if (block === 0x2c) {
      if (offset + 10 > bytes.length) throw walk.endsEarly('an image descriptor', imageData);
      imageData = true;
      // 9 bytes of descriptor, the local colour table if any, then the LZW minimum code size.
      offset += 9 + colourTableSize(bytes[offset + 8] as number) + 1;
      offset = skipSubBlocks(walk, offset, imageData, undefined);
    } else {
      throw walk.corrupt(`an unknown block 0x${block?.toString(16)} at byte ${offset - 1}`, offset - 1);
    }
  }
}

const gifExtensionName = (label: number) =>
  label === 0xfe
    ? 'a comment extension'
    : label === 0xff
      ? 'an application extension'
      : label === 0x01
        ? 'a plain-text extension'
        : `an extension with label 0x${label.toString(16)}`;

const colourTableSize = (packed: number) => (packed & 0x80 ? 3 << ((packed & 7) + 1) : 0);

/** Skips data sub-blocks up to their terminator, counting their bytes as metadata when `where` is set. */
function skipSubBlocks(walk: Walk, from: number, imageData: boolean, where: string | undefined): number {
  const { bytes } = walk;
  let offset = from;
  for (;;) {
    if (offset >= bytes.length) throw walk.endsEarly('its data sub-blocks', imageData);
    const size = bytes[offset++] as number;
    if (size === 0) return offset;
    if (where) walk.addMetadata(size, where);
    offset += size;
  }
}

// WebP ----------------------------------------------------------------------------------------------

const WEBP_IMAGE_CHUNKS = new Set(['VP8 ', 'VP8L', 'ANMF', 'ALPH'].map(fourcc));
const WEBP_STRUCTURE_CHUNKS = new Set(['VP8X', 'ANIM'].map(fourcc));
const WEBP_EXIF = fourcc('EXIF');

function walkWebp(walk: Walk): number {
  const { bytes } = walk;
  const riffSize = u32le(bytes, 4);
  if (riffSize < 4) throw walk.corrupt(`a RIFF size of ${riffSize}`, 4);
  const end = 8 + riffSize;
  let imageData = false;
  let offset = 12;
  while (offset < end) {
    if (offset + 8 > bytes.length) throw walk.endsEarly('a chunk header', imageData);
    if (offset + 8 > end) throw walk.corrupt(`a chunk header past the RIFF size at byte ${offset}`, offset);
    const type = u32be(bytes, offset);
    const size = u32le(bytes, offset + 4);
    const name = latin1(bytes, offset, offset + 4);
    const dataStart = offset + 8;
    const dataEnd = dataStart + size;
    if (WEBP_IMAGE_CHUNKS.has(type)) imageData = true;
    if (dataEnd > bytes.length) throw walk.endsEarly(`its ${name.trim()} chunk`, imageData);
    if (dataEnd > end) throw walk.corrupt(`the ${name.trim()} chunk runs past the RIFF size`, offset);
    if (type === WEBP_EXIF) {
      const data = bytes.subarray(dataStart, dataEnd);
      checkExif(walk, startsWithAscii(data, 0, 'Exif\0\0') ? data.subarray(6) : data, 'EXIF chunk');
    }
    if (!WEBP_IMAGE_CHUNKS.has(type) && !WEBP_STRUCTURE_CHUNKS.has(type))
      walk.addMetadata(size, `a ${name.trim()} chunk`);
    offset = dataEnd + (size & 1);
  }
  if (end > bytes.length) throw walk.endsEarly('the padding of its last chunk', imageData);
  if (!imageData) throw walk.corrupt('no image chunk', 12);
  return end;
}

// EXIF ----------------------------------------------------------------------------------------------

/** Bytes per value of each TIFF field type (1..13); unknown types are skipped, as readers do. */
const TIFF_TYPE_SIZES = [0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8, 4];
/** IFD0 tags whose value is the offset of another IFD: Exif, GPS and Interoperability. */
const SUB_IFD_TAGS = new Set([0x8769, 0x8825, 0xa005]);

/**
 * An EXIF block (the TIFF structure) whose IFD0 stays inside the block: byte-order mark, IFD0 and its
 * entries, every out-of-line value, and the headers of the sub-IFDs IFD0 points to. MakerNotes and
 * the sub-IFDs' values are not chased.
 */
function checkExif(walk: Walk, tiff: Uint8Array, where: string): void {
  const fail = (reason: string) =>
    new InvalidImage('corrupt_metadata', `the ${walk.format} file's ${where} is corrupt: ${reason}`, {
      format: walk.format,
      block: where,
      reason,
    });
  const size = tiff.length;
  if (size < 8) throw fail(`it holds ${size} bytes, too few for a TIFF header`);
  const order = latin1(tiff, 0, 2);
  if (order !== 'II' && order !== 'MM') throw fail('it has no byte-order mark');
  const little = order === 'II';
  const u16 = (at: number) => (little ? u16le(tiff, at) : u16be(tiff, at));
  const u32 = (at: number) => (little ? u32le(tiff, at) : u32be(tiff, at));
  if (u16(2) !== 42) throw fail('its TIFF header has no magic number');

  const ifdEntries = (ifd: number, name: string): number => {
    if (ifd < 8 || ifd + 2 > size) throw fail(`${name} at offset ${ifd} lies outside the ${size}-byte block`);
    const count = u16(ifd);
    if (ifd + 2 + count * 12 > size)
      throw fail(`${name} claims ${count} entries, more than the ${size}-byte block holds`);
    return count;
  };
  const ifd0 = u32(4);
  const count = ifdEntries(ifd0, 'IFD0');
  for (let i = 0; i < count; i++) {
    const entry = ifd0 + 2 + i * 12;
    const tag = u16(entry);
    const type = u16(entry + 2);
    const valueBytes = u32(entry + 4) * (TIFF_TYPE_SIZES[type] ?? 0);
    if (valueBytes > 4) {
      const at = u32(entry + 8);
      if (at + valueBytes > size)
        throw fail(
          `IFD0 tag 0x${tag.toString(16)} has ${valueBytes} bytes at offset ${at}, outside the ${size}-byte block`,
        );
    }
    if (SUB_IFD_TAGS.has(tag) && (type === 4 || type === 13))
      ifdEntries(u32(entry + 8), `the IFD that tag 0x${tag.toString(16)} points to`);
  }
}
