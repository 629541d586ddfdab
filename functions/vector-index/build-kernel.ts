/**
 * Assembles int8-kernel.wat into int8-kernel.wasm.ts (the bytes as base64), so the Lambda bundle needs
 * neither wabt nor a .wasm asset. Run after editing the WAT:
 *
 *   npx tsx functions/vector-index/build-kernel.ts
 *
 * test/unit/vector-index.test.ts assembles the WAT again and fails if the committed module differs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import wabt from 'wabt';

export const KERNEL_WAT_PATH = join(__dirname, 'int8-kernel.wat');
const KERNEL_MODULE_PATH = join(__dirname, 'int8-kernel.wasm.ts');

export async function assembleKernel(watPath = KERNEL_WAT_PATH): Promise<Uint8Array> {
  const toolkit = await wabt();
  const parsed = toolkit.parseWat('int8-kernel.wat', readFileSync(watPath, 'utf8'), { simd: true });
  try {
    parsed.validate();
    // No name section: the bytes depend only on the code, not on local names or wabt's defaults.
    return parsed.toBinary({ write_debug_names: false, canonicalize_lebs: true }).buffer.slice();
  } finally {
    parsed.destroy();
  }
}

export function renderKernelModule(wasm: Uint8Array): string {
  const base64 = Buffer.from(wasm).toString('base64');
  return [
    '// Generated from int8-kernel.wat by build-kernel.ts; do not edit. Regenerate with',
    '//   npx tsx functions/vector-index/build-kernel.ts',
    '// test/unit/vector-index.test.ts checks that these bytes equal a fresh assembly of the WAT.',
    `export const INT8_KERNEL_WASM_BASE64 =\n  '${base64}';`,
    '',
  ].join('\n');
}

if (require.main === module) {
  assembleKernel()
    .then((wasm) => {
      writeFileSync(KERNEL_MODULE_PATH, renderKernelModule(wasm));
      process.stderr.write(`wrote ${KERNEL_MODULE_PATH} (${wasm.length} bytes of wasm)\n`);
    })
    .catch((error: unknown) => {
      process.stderr.write(`${String(error)}\n`);
      process.exitCode = 1;
    });
}
