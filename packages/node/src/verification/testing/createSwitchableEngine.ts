import type { Engine, EngineRunResult } from '@verity/engine'
import { BaseError, type Tensor } from '@verity/protocol'

/**
 * How a {@link SwitchableEngine} behaves: `honest` passes every call to the real engine, `tamper`
 * runs it and then alters one output element (a dishonest or broken node), `hang` never answers
 * until the call is aborted (a stuck node).
 *
 * @example
 * ```ts
 * engine.behavior = 'tamper' satisfies EngineBehavior
 * ```
 */
export type EngineBehavior = 'honest' | 'tamper' | 'hang'

/**
 * A typed test wrapper around a real engine whose behavior a test switches at run time. Only `run`
 * changes; `load`, `unload` and `descriptor` are the real engine's, and `close` does not close it
 * (the real engine may be shared by several nodes).
 *
 * @example
 * ```ts
 * const engine = createSwitchableEngine(createOnnxEngine())
 * engine.behavior = 'hang'
 * ```
 */
export type SwitchableEngine = Engine & {
  behavior: EngineBehavior
  /** Runs that entered this wrapper. */
  readonly runs: number
}

function tamper(tensor: Tensor): Tensor {
  const data = tensor.data.slice() as Tensor['data']
  if (data.length > 0) {
    const first = data[0] as number | bigint
    ;(data as unknown as (number | bigint)[])[0] =
      typeof first === 'bigint' ? first + 1n : (first as number) + 1
  }
  return { ...tensor, data }
}

/**
 * Creates a {@link SwitchableEngine} over `engine` (`honest` at first).
 *
 * @example
 * ```ts
 * const shared = createOnnxEngine()
 * const liar = createSwitchableEngine(shared)
 * liar.behavior = 'tamper' // its outputs now differ from the real engine's in one element
 * ```
 */
export function createSwitchableEngine(engine: Engine): SwitchableEngine {
  let runs = 0
  let behavior: EngineBehavior = 'honest'
  return {
    get behavior() {
      return behavior
    },
    set behavior(value) {
      behavior = value
    },
    descriptor: engine.descriptor,
    settingsHash: engine.settingsHash,
    load: (parameters) => engine.load(parameters),
    unload: (id) => engine.unload(id),
    async close() {},
    async run(parameters): Promise<EngineRunResult> {
      runs++
      if (behavior === 'hang')
        return new Promise((_, reject) => {
          const abort = () =>
            reject(
              new BaseError('ENGINE_ABORTED', 'The run was aborted.', {
                cause: parameters.signal?.reason,
              }),
            )
          if (parameters.signal?.aborted) abort()
          parameters.signal?.addEventListener('abort', abort, { once: true })
        })
      const result = await engine.run(parameters)
      if (behavior !== 'tamper') return result
      const [name, first] = Object.entries(result.outputs)[0] ?? []
      if (name === undefined || first === undefined) return result
      return { ...result, outputs: { ...result.outputs, [name]: tamper(first) } }
    },
    get runs() {
      return runs
    },
  }
}
