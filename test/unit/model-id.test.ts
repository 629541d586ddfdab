import { ModelManifestSchema } from '../../functions/embedding/model-manifest';
import { CHOSEN_DESCRIPTOR, PREVIOUS_DEFAULT_DESCRIPTOR } from '../../layers/model/chosen-descriptor';
import { type DescriptorSpec, descriptorLabel, modelIdLabel } from '../../layers/model/descriptor';

const gem = { kind: 'gem', p: 3 } as const;
const spec = (model: DescriptorSpec['model'], layers: string[], outDim = 256): DescriptorSpec => ({
  model,
  blocks: layers.map((layer) => ({ layer, pooling: gem })),
  l2PerBlock: true,
  transform: { kind: 'pca', outDim, power: 0.25 },
});
const modelId = (s: DescriptorSpec) => `${modelIdLabel(s)}-${'0123456789abcdef'}`;
const valid = (id: string) => ModelManifestSchema.shape.modelId.safeParse(id).success;

describe('model ids', () => {
  it('keep the full label, and so the id of every model built before, when it fits', () => {
    expect(modelIdLabel(PREVIOUS_DEFAULT_DESCRIPTOR)).toBe(
      'inception-v3.mixed3-gem3_mixed6-gem3.l2.pca128w0.25',
    );
  });

  it('abbreviate layer names when the full label would break the manifest limit (three MobileNetV2 blocks)', () => {
    const three = spec('mobilenet_v2', [
      'block_10_expand_relu',
      'block_11_expand_relu',
      'block_13_expand_relu',
    ]);
    expect(valid(`${descriptorLabel(three).replace(/\+/g, '_')}-0123456789abcdef`)).toBe(false);
    expect(modelIdLabel(three)).toBe('mobilenet-v2.b10e-gem3_b11e-gem3_b13e-gem3.l2.pca256w0.25');
    expect(valid(modelId(three))).toBe(true);
  });

  it('hash the rest when even the abbreviated label is too long, and stay distinct and stable', () => {
    const layers = Array.from({ length: 12 }, (_, i) => `block_${i + 1}_expand_relu`);
    const many = spec('mobilenet_v2', layers);
    const fewer = spec('mobilenet_v2', layers.slice(0, 11).concat('block_16_project_BN'));
    expect(valid(modelId(many))).toBe(true);
    expect(valid(modelId(fewer))).toBe(true);
    expect(modelIdLabel(many)).not.toBe(modelIdLabel(fewer));
    expect(modelIdLabel(many)).toBe(modelIdLabel(spec('mobilenet_v2', layers)));
    expect(modelIdLabel(many)).toMatch(/^mobilenet-v2\.b1e-gem3_b2e-gem3.*\.[0-9a-f]{8}$/);
  });

  it('name the quantisation, so an int8 build never shares an id label with the float build of its descriptor', () => {
    const float = spec('mobilenet_v2', ['block_11_expand_relu', 'block_13_expand_relu'], 128);
    const int8: DescriptorSpec = { ...float, quantisation: { calibration: 'image-p99.9' } };
    expect(descriptorLabel(int8)).toBe(`${descriptorLabel(float)}.int8-image-p99.9`);
    expect(modelIdLabel(int8)).toBe('mobilenet-v2.b11e-gem3_b13e-gem3.l2.pca128w0.25.int8-image-p99.9');
    expect(valid(modelId(int8))).toBe(true);
    expect(modelIdLabel(CHOSEN_DESCRIPTOR)).toBe(modelIdLabel({ ...int8, inputType: 'uint8' }));
  });
});
