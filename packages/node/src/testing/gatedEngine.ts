import type { Engine, EngineRunParameters, EngineRunResult } from '@verity/engine'
import {
  allocTensorData,
  BaseError,
  hashEngineDescriptor,
  type Manifest,
  shapeSize,
} from '@verity/protocol'

/**
 * A typed stub engine for tests about the node's lifecycle (drain, abort, recovery), not about
 * execution: `run` waits until the test calls `release()` (or the call's signal aborts) and
 * returns zero tensors shaped as the manifest declares (dynamic dims = 1).
 *
 * @example
 * ```ts
 * const engine = createGatedEngine()
 * const pending = executor.infer(call)
 * await engine.started()  // the run is inside the engine
 * engine.release()
 * ```
 */
export type GatedEngine = Engine & {
  /** Resolves when a run has entered the engine. */
  started(): Promise<void>
  /** Lets every waiting (and future) run finish. */
  release(): void
  readonly runs: number
}

/**
 * Creates a {@link GatedEngine}.
 *
 * @example
 * ```ts
 * const engine = createGatedEngine()
 * const node = await createVerityNode({ dataDir }, { engine })
 * ```
 */
export function createGatedEngine(): GatedEngine {
  const descriptor = { name: 'gated-test-engine', version: '0', settings: {} }
  const manifests = new Map<string, Manifest>()
  let released = false
  let open: () => void = () => {}
  const gate = new Promise<void>((resolve) => {
    open = resolve
  })
  let signalStarted: () => void = () => {}
  const started = new Promise<void>((resolve) => {
    signalStarted = resolve
  })
  let runs = 0

  return {
    descriptor,
    settingsHash: hashEngineDescriptor(descriptor),
    async load({ id, manifest }) {
      manifests.set(id, manifest)
    },
    async run(parameters: EngineRunParameters): Promise<EngineRunResult> {
      const manifest = manifests.get(parameters.id)
      if (!manifest)
        throw new BaseError('MODEL_NOT_FOUND', `Model "${parameters.id}" is not loaded.`)
      runs++
      signalStarted()
      if (!released)
        await new Promise<void>((resolve, reject) => {
          const onAbort = () =>
            reject(
              new BaseError('ENGINE_ABORTED', 'The run was aborted.', {
                cause: parameters.signal?.reason,
              }),
            )
          if (parameters.signal?.aborted) return onAbort()
          parameters.signal?.addEventListener('abort', onAbort, { once: true })
          void gate.then(() => {
            parameters.signal?.removeEventListener('abort', onAbort)
            resolve()
          })
        })
      const outputs: EngineRunResult['outputs'] = {}
      for (const spec of manifest.outputs) {
        const shape = spec.shape.map((dim) => (typeof dim === 'number' ? dim : 1))
        outputs[spec.name] = {
          dtype: spec.dtype,
          shape,
          data: allocTensorData(spec.dtype, shapeSize(shape)),
        }
      }
      return { outputs, durationMs: 0 }
    },
    async unload(id) {
      manifests.delete(id)
    },
    async close() {},
    started: () => started,
    release() {
      released = true
      open()
    },
    get runs() {
      return runs
    },
  }
}
