import type { Tensor } from '@verity/protocol'

/** A model input or output as onnxruntime describes it (`dtype`/`shape` only for tensors). */
export type OnnxValueInfo = {
  name: string
  isTensor: boolean
  /** ORT's type name (`float32`, `int64`, `string`, …). */
  dtype?: string | undefined
  /** Fixed sizes, or the symbolic name (`''` when unnamed) of dynamic dims. */
  shape?: (number | string)[] | undefined
}

/** What the worker reports after loading a model. */
export type OnnxLoadReply = { inputs: OnnxValueInfo[]; outputs: OnnxValueInfo[] }

/** What the worker reports after a run: the requested outputs, copied out of ORT. */
export type OnnxRunReply = { outputs: Record<string, Tensor>; computeMs: number }

/**
 * What the ONNX worker reports when it is ready (onnxruntime is loaded).
 *
 * @example
 * ```ts
 * const ready: OnnxWorkerReady = { version: '1.30.0' }
 * ```
 */
export type OnnxWorkerReady = { version: string }

/**
 * Calls from the engine to an ONNX worker process (sent inside the shared `WorkerRequest`
 * envelope, V8-serialized, so typed arrays keep their class).
 *
 * @example
 * ```ts
 * worker.request<OnnxRunReply>({ type: 'run', id: 'mnist', inputs, outputNames: ['y'] }, options)
 * ```
 */
export type OnnxWorkerRequest =
  | { type: 'load'; id: string; bytes: Uint8Array }
  | { type: 'run'; id: string; inputs: Record<string, Tensor>; outputNames: string[] }
  | { type: 'unload'; id: string }
