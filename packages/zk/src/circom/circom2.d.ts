/**
 * Minimal types for the parts of `circom2` (circom 2.2.3 compiled to WebAssembly/WASI) that
 * Verity uses. The package ships no types.
 */
declare module 'circom2' {
  /** Host functions handed to the WASI shim; `fs` must be a Node `fs`-compatible object. */
  export type CircomBindings = {
    hrtime: () => number
    exit: (code: number) => never
    kill: (signal: string) => never
    randomFillSync: (buffer: Uint8Array, offset: number, size: number) => Uint8Array
    isTTY: () => boolean
    path: unknown
    fs: unknown
  }

  export type CircomRunnerOptions = {
    args: readonly string[]
    env?: Record<string, string | undefined>
    /** Guest path → host path. */
    preopens?: Record<string, string>
    bindings?: CircomBindings
  }

  /** Runs `circom.wasm` under WASI with the given arguments. */
  export class CircomRunner {
    constructor(options: CircomRunnerOptions)
    execute(wasm: Uint8Array): Promise<WebAssembly.Instance>
  }

  /** Default host bindings (`fs: null`: the caller must supply one). */
  export const bindings: CircomBindings
}
