// Runs inside worker processes: it imports nothing from `@verity/protocol` at run time (that would
// add ~0.5 s to every worker start), only types.
import type { ErrorCode } from '@verity/protocol'
import type { WorkerOutcome } from './workerProtocol.ts'

/**
 * An error a worker's own code throws with the code and message the engine should report (it
 * stands in for `BaseError` inside worker processes, which do not load `@verity/protocol`).
 * {@link workerFailure} passes it through unchanged.
 *
 * @example
 * ```ts
 * throw new WorkerFailure('MODEL_NOT_FOUND', `Model "${id}" is not loaded in this worker.`)
 * ```
 */
export class WorkerFailure extends Error {
  readonly code: ErrorCode
  readonly metaMessages: readonly string[] | undefined
  constructor(code: ErrorCode, message: string, metaMessages?: readonly string[]) {
    super(message)
    this.code = code
    this.metaMessages = metaMessages
  }
}

/**
 * The failed {@link WorkerOutcome} for `cause`: a {@link WorkerFailure} keeps its own code and
 * message; anything else is reported as `code` and `message`, with the cause's message as
 * details.
 *
 * @example
 * ```ts
 * try {
 *   return { ok: true, value: await InferenceSession.create(bytes) }
 * } catch (cause) {
 *   return workerFailure('ENGINE_LOAD_FAILED', `onnxruntime could not load model "${id}".`, cause)
 * }
 * ```
 */
export function workerFailure(code: ErrorCode, message: string, cause?: unknown): WorkerOutcome {
  if (cause instanceof WorkerFailure)
    return {
      ok: false,
      error: { code: cause.code, message: cause.message, metaMessages: cause.metaMessages },
    }
  const details =
    cause === undefined ? undefined : cause instanceof Error ? cause.message : String(cause)
  return { ok: false, error: { code, message, details } }
}
