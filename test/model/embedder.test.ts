import { readFileSync } from 'node:fs';
import { INVALID_IMAGE_CODES, InvalidImage } from '../../functions/domain/errors';
import { Embedder } from '../../functions/embedding/embedder';
import { imageToTensor } from '../../layers/model/preprocess';
import { badInputCorpus, catalogueJpeg, emojiImages } from '../support/images';

const cosine = (a: Float32Array, b: Float32Array) => a.reduce((sum, x, i) => sum + x * (b[i] as number), 0);
const norm = (a: Float32Array) => Math.sqrt(cosine(a, a));

describe('embedder', () => {
  let embedder: Embedder;

  beforeAll(async () => {
    embedder = await Embedder.load();
  });

  it('turns a real image into a unit-length vector of the manifest dimension', async () => {
    const [image] = emojiImages('google');
    const { vector, modelId } = await embedder.embed(readFileSync(image?.file as string));
    expect(vector).toHaveLength(embedder.manifest.output.dim);
    expect(modelId).toBe(embedder.manifest.modelId);
    expect(Math.abs(norm(vector) - 1)).toBeLessThan(1e-5);
    expect(vector.every(Number.isFinite)).toBe(true);
  });

  it('gives a bit-identical vector for the same bytes, in one process and after a reload', async () => {
    const bytes = readFileSync(emojiImages('google')[100]?.file as string);
    const first = (await embedder.embed(bytes)).vector;
    const again = (await embedder.embed(Buffer.from(bytes))).vector;
    const reloaded = await Embedder.load();
    const third = (await reloaded.embed(bytes)).vector;
    expect(Buffer.from(again.buffer).equals(Buffer.from(first.buffer))).toBe(true);
    expect(Buffer.from(third.buffer).equals(Buffer.from(first.buffer))).toBe(true);
  });

  it('gives identical vectors when embeddings run concurrently', async () => {
    const files = emojiImages('google')
      .slice(0, 6)
      .map((i) => readFileSync(i.file));
    const sequential: Float32Array[] = [];
    for (const bytes of files) sequential.push((await embedder.embed(bytes)).vector);
    const concurrent = await Promise.all(files.map((bytes) => embedder.embed(bytes)));
    concurrent.forEach((result, i) => {
      expect(
        Buffer.from(result.vector.buffer).equals(Buffer.from((sequential[i] as Float32Array).buffer)),
      ).toBe(true);
    });
  });

  it('places a resized, re-encoded copy of an image nearer to it than to other images', async () => {
    const images = emojiImages('google').slice(200, 230);
    const vectors = await Promise.all(
      images.map(async (i) => (await embedder.embed(readFileSync(i.file))).vector),
    );
    const copy = (await embedder.embed(await catalogueJpeg(images[7]?.file as string, 700, 80))).vector;
    const similarities = vectors.map((v) => cosine(v, copy));
    const best = similarities.indexOf(Math.max(...similarities));
    expect(best).toBe(7);
  });

  it('gives the very tensor the model build fits and evaluates with (index, query and fitting images alike)', async () => {
    const { width, height } = embedder.manifest.input;
    const files = [
      readFileSync(emojiImages('google')[5]?.file as string),
      readFileSync(emojiImages('twitter')[300]?.file as string),
      await catalogueJpeg(emojiImages('google')[42]?.file as string, 1000),
    ];
    for (const bytes of files) {
      const input = embedder.toTensor(await embedder.preprocess(bytes));
      const fitted = await imageToTensor(bytes, width, height, embedder.manifest.preprocess);
      // The default model takes sharp's bytes and normalises them itself, as (byte / 255 - 0) / 1.
      expect(embedder.manifest.input.dataType).toBe('uint8');
      expect(input.type).toBe('uint8');
      const served = Float32Array.from(input.data as Uint8Array, (byte) => byte / 255);
      expect(
        Buffer.from(served.buffer, served.byteOffset, served.byteLength).equals(Buffer.from(fitted.buffer)),
      ).toBe(true);
    }
  });

  describe('bad input: a typed error with its own code, never a crash or a hang', () => {
    let corpus: Awaited<ReturnType<typeof badInputCorpus>>;
    beforeAll(async () => {
      corpus = await badInputCorpus();
    });

    it('covers the documented cases with distinct codes', () => {
      const codes = new Set(corpus.map((c) => c.expected).filter((c) => c !== 'ok'));
      expect(codes.size).toBeGreaterThanOrEqual(9);
      for (const code of codes) expect(INVALID_IMAGE_CODES).toContain(code);
    });

    it.each([
      'zero bytes',
      'truncated JPEG',
      'truncated PNG',
      'text',
      'PDF',
      'HTML',
      'random bytes',
      'JPEG magic then garbage',
      'decompression bomb 40000x40000',
      '1x1',
      '10000x10',
      'HEIC (HEVC)',
      'SVG',
      'BMP',
      '16-bit PNG',
      'greyscale PNG',
      'CMYK JPEG',
      'animated GIF',
      'animated WebP',
      'PNG with alpha',
      'AVIF',
      'TIFF',
    ])('%s', async (name) => {
      const entry = corpus.find((c) => c.name === name);
      expect(entry).toBeDefined();
      const { bytes, expected } = entry as { bytes: Buffer; expected: string };
      const started = performance.now();
      const outcome = await embedder.embed(bytes).then(
        (result) => ({ code: 'ok', result }),
        (error: unknown) => {
          expect(error).toBeInstanceOf(InvalidImage);
          return { code: (error as InvalidImage).code, message: (error as InvalidImage).message };
        },
      );
      expect(outcome.code).toBe(expected);
      // Bounded time: rejections happen on the header, not after decoding gigapixels.
      expect(performance.now() - started).toBeLessThan(10_000);
      if ('result' in outcome && outcome.result)
        expect(Math.abs(norm(outcome.result.vector) - 1)).toBeLessThan(1e-5);
    });

    it('rejects the decompression bomb without allocating its pixels', async () => {
      const bomb = (corpus.find((c) => c.name.startsWith('decompression bomb')) as { bytes: Buffer }).bytes;
      expect(bomb.length).toBeLessThan(200_000);
      const before = process.memoryUsage().rss;
      await expect(embedder.embed(bomb)).rejects.toMatchObject({ code: 'pixel_limit' });
      // 40000 x 40000 x 3 would be 4.8 GB; allow generous slack for the allocator.
      expect(process.memoryUsage().rss - before).toBeLessThan(200 * 1024 * 1024);
    });

    it('renders the animated GIF from its first frame only', async () => {
      const gif = (corpus.find((c) => c.name === 'animated GIF') as { bytes: Buffer }).bytes;
      const image = await embedder.preprocess(gif);
      // The first frame is pure red: every pixel must be red, so later frames were not blended in.
      expect(image.pixels[0]).toBeGreaterThan(240);
      expect(image.pixels[1]).toBeLessThan(15);
      expect(image.pixels[image.pixels.length - 2]).toBeLessThan(15);
    });

    it('flattens transparency onto white', async () => {
      const transparent = (corpus.find((c) => c.name === 'PNG with alpha') as { bytes: Buffer }).bytes;
      const image = await embedder.preprocess(transparent);
      expect(Math.min(...image.pixels.subarray(0, 30))).toBe(255);
    });

    it('applies the limits it was given', async () => {
      const strict = await Embedder.load({ limits: { maxBytes: 100 } });
      const ok = corpus.find((c) => c.name === '16-bit PNG') as { bytes: Buffer };
      await expect(strict.embed(ok.bytes)).rejects.toMatchObject({ code: 'file_too_large' });
    });
  });
});
