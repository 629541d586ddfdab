/**
 * The few WebAssembly JS API members the index uses. The repo compiles against lib ES2022 without DOM,
 * which has no WebAssembly types; Node has had the API (with SIMD) since long before 20.
 */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(deltaPages: number): number;
}

interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: unknown };
  Memory: new (descriptor: { initial: number; maximum: number }) => WasmMemory;
}

export const WASM_PAGE_BYTES = 65_536;
/** wasm32 addresses 4 GiB at most. */
export const MAX_WASM_PAGES = 65_536;

export const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
