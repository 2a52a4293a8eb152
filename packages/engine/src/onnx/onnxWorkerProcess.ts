import { fileURLToPath } from 'node:url'
import type { InferenceSession } from 'onnxruntime-node'
import { createWorkerProcess, type WorkerProcess } from '../worker/createWorkerProcess.ts'
import type { OnnxWorkerReady, OnnxWorkerRequest } from './onnxWorkerProtocol.ts'

const workerPath = fileURLToPath(new URL('./onnxWorker.ts', import.meta.url))

/**
 * One ONNX worker process: a forked `onnxWorker.ts` with its sessions, seen from the engine.
 *
 * @example
 * ```ts
 * const worker: OnnxWorkerProcess = await spawnOnnxWorker({ sessionOptions, startTimeoutMs: 10_000 })
 * ```
 */
export type OnnxWorkerProcess = WorkerProcess<OnnxWorkerRequest, OnnxWorkerReady>

/**
 * What {@link spawnOnnxWorker} needs.
 *
 * @example
 * ```ts
 * const parameters: SpawnOnnxWorkerParameters = { sessionOptions, startTimeoutMs: 10_000, onExit: () => {} }
 * ```
 */
export type SpawnOnnxWorkerParameters = {
  sessionOptions: InferenceSession.SessionOptions
  /** Reject (and kill) when the process has not reported `ready` within this many ms. */
  startTimeoutMs: number
  /** Called once when the process exits, for whatever reason. */
  onExit?: ((worker: OnnxWorkerProcess) => void) | undefined
}

/**
 * Starts an ONNX worker process (see `createWorkerProcess`) and resolves once onnxruntime is
 * loaded in it. Timeouts and aborts kill it with SIGKILL at once (no grace: an ORT run cannot be
 * interrupted), which is safe in the middle of a native ORT call because nothing else lives in
 * that process. Rejects with `ENGINE_LOAD_FAILED` or `ENGINE_TIMEOUT` if it cannot start.
 *
 * @example
 * ```ts
 * const worker = await spawnOnnxWorker({ sessionOptions, startTimeoutMs: 10_000 })
 * await worker.request({ type: 'load', id: 'm', bytes }, { failureCode: 'ENGINE_LOAD_FAILED', what: 'loading "m"' }).result
 * ```
 */
export function spawnOnnxWorker(parameters: SpawnOnnxWorkerParameters): Promise<OnnxWorkerProcess> {
  return createWorkerProcess<OnnxWorkerRequest, OnnxWorkerReady>(
    {
      entry: workerPath,
      args: [JSON.stringify(parameters.sessionOptions)],
      name: 'ONNX worker process',
      startTimeoutMs: parameters.startTimeoutMs,
      startHints: ['Check that onnxruntime-node is installed and loads on this machine.'],
      timeoutHints: [
        'The worker process was killed and is restarted; models reload on their next run.',
        'Send a smaller input, or raise the limit (manifest limits.timeoutMs, engine timeoutMs).',
      ],
      abortHints: ['The worker running it was stopped and restarted.'],
    },
    { onExit: parameters.onExit },
  )
}
