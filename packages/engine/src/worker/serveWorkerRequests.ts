// Runs inside worker processes: it imports nothing from `@verity/protocol` at run time, only types.
import { workerFailure } from './workerFailure.ts'
import type { WorkerOutcome, WorkerReply, WorkerRequest } from './workerProtocol.ts'

/**
 * What a worker's handler knows about the call it runs.
 *
 * @example
 * ```ts
 * for await (const token of tokens) {
 *   context.emit({ index, token, text })
 *   if (context.cancelled()) break
 * }
 * ```
 */
export type WorkerRequestContext<Event> = {
  /** The call's number, unique in this process. */
  readonly requestId: number
  /** True once the engine has asked to stop this call early (a timeout or abort with grace). */
  cancelled(): boolean
  /** Sends a progress event for this call (the engine hands it to the call's `onEvent`). */
  emit(event: Event): void
}

/**
 * How a worker process introduces itself and reports a handler that throws.
 *
 * @example
 * ```ts
 * const options: ServeWorkerRequestsOptions<{ version: string }> = { ready: { version: '1.30.0' }, unexpected: 'The ONNX worker failed unexpectedly.' }
 * ```
 */
export type ServeWorkerRequestsOptions<Ready> = {
  /** Sent once, as the `ready` message, when serving starts. */
  ready: Ready
  /** Message of the `INTERNAL` failure a throwing handler is answered with (a `WorkerFailure` keeps its own). */
  unexpected: string
}

/**
 * The model-specific part of a worker process.
 *
 * @example
 * ```ts
 * const components: ServeWorkerRequestsComponents<OnnxWorkerRequest, never> = { handle: (call) => run(call) }
 * ```
 */
export type ServeWorkerRequestsComponents<Call, Event> = {
  /** Answers one call (calls run one at a time, in arrival order). */
  handle: (call: Call, context: WorkerRequestContext<Event>) => Promise<WorkerOutcome>
}

/**
 * The child side of a worker process started by `createWorkerProcess`: sends `ready`, then answers
 * the engine's calls strictly one after another (a native call blocks the process's only thread
 * anyway, and the order of load/run/unload for one model must be kept), with one `result` each.
 * A `cancel` is recorded at once, so the running call sees it through `context.cancelled()`; a
 * cancel for a call that has already finished is dropped. The process exits when the engine's
 * process goes away (the IPC channel closes).
 *
 * @example
 * ```ts
 * serveWorkerRequests<OnnxWorkerRequest, OnnxWorkerReady, never>(
 *   { ready: { version: env.versions.node ?? 'unknown' }, unexpected: 'The ONNX worker failed unexpectedly.' },
 *   { handle: (call) => (call.type === 'run' ? run(call) : load(call)) },
 * )
 * ```
 */
export function serveWorkerRequests<Call, Ready, Event = never>(
  options: ServeWorkerRequestsOptions<Ready>,
  components: ServeWorkerRequestsComponents<Call, Event>,
): void {
  const send = (reply: WorkerReply<Ready, Event>) => process.send?.(reply)
  const cancelled = new Set<number>()
  let queue: Promise<void> = Promise.resolve()

  async function answer(requestId: number, call: Call): Promise<void> {
    // Every earlier call has finished: a cancel that arrived after its target ended is stale.
    for (const target of cancelled) if (target < requestId) cancelled.delete(target)
    const context: WorkerRequestContext<Event> = {
      requestId,
      cancelled: () => cancelled.has(requestId),
      emit: (event) => send({ type: 'event', requestId, event }),
    }
    let outcome: WorkerOutcome
    try {
      outcome = await components.handle(call, context)
    } catch (cause) {
      outcome = workerFailure('INTERNAL', options.unexpected, cause)
    }
    cancelled.delete(requestId)
    send({ type: 'result', requestId, ...outcome })
  }

  process.on('message', (request: WorkerRequest<Call>) => {
    if (request.type === 'cancel') {
      cancelled.add(request.target)
      return
    }
    queue = queue.then(() => answer(request.requestId, request.call))
  })
  // The engine's process is gone (or closed the channel): nothing left to serve.
  process.on('disconnect', () => process.exit(0))
  send({ type: 'ready', ready: options.ready })
}
