import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The absolute path of circomlib's `circuits/` folder (the include path for `poseidon.circom`,
 * `bitify.circom`, `comparators.circom`, …), resolved from this package's dependencies.
 *
 * @example
 * ```ts
 * const dir = resolveCircomlibPath() // …/node_modules/circomlib/circuits
 * ```
 */
export function resolveCircomlibPath(): string {
  return dirname(fileURLToPath(import.meta.resolve('circomlib/circuits/poseidon.circom')))
}

/**
 * The absolute path of circom2's `circom.wasm` (the circom 2.2.3 compiler built for WASI).
 *
 * @example
 * ```ts
 * const wasmPath = resolveCircomWasmPath()
 * ```
 */
export function resolveCircomWasmPath(): string {
  return fileURLToPath(import.meta.resolve('circom2/circom.wasm'))
}
