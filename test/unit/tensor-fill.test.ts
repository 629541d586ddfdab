import { TensorFill } from '../../functions/embedding/preprocess';

// Two pixels, RGB interleaved as sharp gives them: (0, 128, 255) and (10, 20, 30).
const image = { pixels: Buffer.from([0, 128, 255, 10, 20, 30]), width: 2, height: 1 };
const preprocessing = {
  mean: [0.5, 0.4, 0.3] as [number, number, number],
  std: [0.2, 0.3, 0.4] as [number, number, number],
};
const normalised = (level: number, c: number) =>
  Math.fround((level / 255 - (preprocessing.mean[c] as number)) / (preprocessing.std[c] as number));

describe('TensorFill', () => {
  const fill = new TensorFill(preprocessing);

  it('normalises each channel with its own mean and std, interleaved for NHWC', () => {
    const expected = [0, 128, 255, 10, 20, 30].map((level, i) => normalised(level, i % 3));
    expect(Array.from(fill.fill(image, 'NHWC'))).toEqual(expected);
  });

  it('writes one plane per channel for NCHW', () => {
    const expected = [normalised(0, 0), normalised(10, 0), normalised(128, 1), normalised(20, 1)];
    expected.push(normalised(255, 2), normalised(30, 2));
    expect(Array.from(fill.fill(image, 'NCHW'))).toEqual(expected);
  });

  it('fills the array it is given when the size fits, and a new one otherwise', () => {
    const spare = new Float32Array(6);
    expect(fill.fill(image, 'NHWC', spare)).toBe(spare);
    const small = new Float32Array(3);
    const filled = fill.fill(image, 'NHWC', small);
    expect(filled).not.toBe(small);
    expect(filled).toHaveLength(6);
  });

  it('refuses pixels that are not width x height RGB', () => {
    expect(() => fill.fill({ ...image, width: 3 }, 'NHWC')).toThrow(RangeError);
  });
});
