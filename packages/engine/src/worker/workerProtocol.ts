import type { ErrorCode } from '@verity/protocol'

/**
 * A `BaseError` flattened for the IPC channel between an engine and its worker process (the
 * worker does not import `@verity/protocol` at run time; the engine turns it back into a
 * `BaseError`).
 *
 * @example
 * ```ts
 * const error: WorkerError = { code: 'ENGINE_LOAD_FAILED', message: 'llama.cpp could not load model "m".' }
 * ```
 */
export type WorkerError = {
  code: ErrorCode
  message: string
  details?: string | undefined
  metaMessages?: readonly string[] | undefined
}

/**
 * How a worker answers one call: a value, or a flattened error.
 *
 * @example
 * ```ts
 * const outcome: WorkerOutcome = { ok: true, value: { outputs, computeMs } }
 * ```
 */
export type WorkerOutcome = { ok: true; value: unknown } | { ok: false; error: WorkerError }

/**
 * Messages from the engine to a worker process (IPC, V8-serialized, so typed arrays keep their
 * class): a `call` (the engine's own request type, numbered by `requestId`), or a `cancel` that
 * asks the worker to stop the call `target` early (the worker may ignore it).
 *
 * @example
 * ```ts
 * child.send({ type: 'call', requestId: 7, call: { type: 'run', id: 'mnist', inputs, outputNames } })
 * child.send({ type: 'cancel', target: 7 })
 * ```
 */
export type WorkerRequest<Call> =
  | { type: 'call'; requestId: number; call: Call }
  | { type: 'cancel'; target: number }

/**
 * Messages from a worker process: `ready` once (after its native library is loaded, with what it
 * reports about itself), `event`s while a call runs (progress, e.g. streamed tokens), then one
 * `result` per call.
 *
 * @example
 * ```ts
 * process.send({ type: 'ready', ready: { version: '1.30.0' } })
 * process.send({ type: 'event', requestId: 7, event: { index: 0, token: 432, text: ',' } })
 * process.send({ type: 'result', requestId: 7, ok: true, value: 42 })
 * ```
 */
export type WorkerReply<Ready, Event> =
  | { type: 'ready'; ready: Ready }
  | { type: 'event'; requestId: number; event: Event }
  | ({ type: 'result'; requestId: number } & WorkerOutcome)
