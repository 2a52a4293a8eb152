import type { ErrorCode, Tensor } from '@verity/protocol'

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
 * Requests from the engine to a worker process (over the IPC channel, V8-serialized, so typed
 * arrays keep their class). Each carries a `requestId` echoed in the reply.
 *
 * @example
 * ```ts
 * child.send({ type: 'run', requestId: 7, id: 'mnist', inputs, outputNames: ['y'] })
 * ```
 */
export type OnnxWorkerRequest =
  | { type: 'load'; requestId: number; id: string; bytes: Uint8Array }
  | {
      type: 'run'
      requestId: number
      id: string
      inputs: Record<string, Tensor>
      outputNames: string[]
    }
  | { type: 'unload'; requestId: number; id: string }

/** A `BaseError` flattened for the IPC channel. */
export type OnnxWorkerError = {
  code: ErrorCode
  message: string
  details?: string | undefined
  metaMessages?: readonly string[] | undefined
}

/**
 * Messages from a worker process: `ready` once onnxruntime is imported, then one `result` per
 * request.
 *
 * @example
 * ```ts
 * process.send({ type: 'result', requestId: 7, ok: true, value: { outputs, computeMs } })
 * ```
 */
export type OnnxWorkerReply =
  | { type: 'ready'; version: string }
  | { type: 'result'; requestId: number; ok: true; value: unknown }
  | { type: 'result'; requestId: number; ok: false; error: OnnxWorkerError }
