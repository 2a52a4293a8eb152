import type { EngineDescriptor, Hash, Manifest, NamedTensors, Tensor } from '@verity/protocol'

/**
 * What {@link Engine.load} takes: a model file's bytes, the manifest that describes it and the id
 * the caller will use to run it (usually the model's CID).
 *
 * @example
 * ```ts
 * const parameters: EngineLoadParameters = { id: manifest.cid, bytes, manifest }
 * ```
 */
export type EngineLoadParameters = {
  id: string
  bytes: Uint8Array
  manifest: Manifest
}

/**
 * What {@link Engine.run} takes. `timeoutMs` can only lower the engine's and the manifest's limit;
 * `signal` cancels the call (a running execution is killed).
 *
 * @example
 * ```ts
 * const parameters: EngineRunParameters = { id: manifest.cid, inputs: { x }, timeoutMs: 1000 }
 * ```
 */
export type EngineRunParameters = {
  id: string
  inputs: NamedTensors
  signal?: AbortSignal | undefined
  timeoutMs?: number | undefined
}

/**
 * What {@link Engine.run} returns: exactly the manifest's declared outputs (copied, owned by the
 * caller) and the wall-clock time of the call in milliseconds.
 *
 * @example
 * ```ts
 * const { outputs, durationMs } = await engine.run({ id, inputs })
 * ```
 */
export type EngineRunResult = {
  outputs: Record<string, Tensor>
  durationMs: number
}

/**
 * A model runtime behind one interface: ONNX today (`createOnnxEngine`), GGUF LLMs later.
 *
 * - `descriptor` pins everything about the engine that can change an output (runtime name and
 *   version, its settings, the CPU's ISA class); `settingsHash` is its canonical hash and goes into
 *   every receipt as `result.engine.settingsHash`.
 * - `load` is idempotent per id; `run` validates inputs against the manifest before executing;
 *   `unload` forgets a model (a no-op for unknown ids); `close` stops the engine, after which every
 *   call throws `ENGINE_CLOSED`.
 *
 * Error codes: `MODEL_NOT_FOUND`, `INPUT_MISSING`, `INPUT_UNEXPECTED`, `TENSOR_*`, `MANIFEST_INVALID`,
 * `ENGINE_LOAD_FAILED`, `ENGINE_RUN_FAILED`, `ENGINE_TIMEOUT`, `ENGINE_OUTPUT_UNSUPPORTED`,
 * `ENGINE_CLOSED`, and `ENGINE_ABORTED` for aborted calls.
 *
 * @example
 * ```ts
 * const engine: Engine = createOnnxEngine()
 * await engine.load({ id: manifest.cid, bytes, manifest })
 * const { outputs } = await engine.run({ id: manifest.cid, inputs: { Input3: image } })
 * await engine.close()
 * ```
 */
export type Engine = {
  readonly descriptor: EngineDescriptor
  readonly settingsHash: Hash
  load(parameters: EngineLoadParameters): Promise<void>
  run(parameters: EngineRunParameters): Promise<EngineRunResult>
  unload(id: string): Promise<void>
  close(): Promise<void>
}
