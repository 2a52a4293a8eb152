import { fileURLToPath } from 'node:url'
import { createWorkerProcess, type WorkerProcess } from '../worker/createWorkerProcess.ts'
import type {
  GgufWorkerReady,
  GgufWorkerRequest,
  GgufWorkerSettings,
  GgufWorkerTokenEvent,
} from './ggufWorkerProtocol.ts'

const workerPath = fileURLToPath(new URL('./ggufWorker.ts', import.meta.url))

/**
 * One GGUF worker process: a forked `ggufWorker.ts` with its models, seen from the engine
 * (`ready.systemInfo` is llama.cpp's CPU feature line in that process).
 *
 * @example
 * ```ts
 * const worker: GgufWorkerProcess = await spawnGgufWorker({ settings, startTimeoutMs: 60_000 })
 * ```
 */
export type GgufWorkerProcess = WorkerProcess<
  GgufWorkerRequest,
  GgufWorkerReady,
  GgufWorkerTokenEvent
>

/**
 * What {@link spawnGgufWorker} needs.
 *
 * @example
 * ```ts
 * const parameters: SpawnGgufWorkerParameters = { settings, startTimeoutMs: 60_000, onExit: () => {} }
 * ```
 */
export type SpawnGgufWorkerParameters = {
  settings: GgufWorkerSettings
  /** Reject (and kill) when the process has not reported `ready` within this many ms. */
  startTimeoutMs: number
  /** Called once when the process exits, for whatever reason. */
  onExit?: ((worker: GgufWorkerProcess) => void) | undefined
}

/**
 * Starts a GGUF worker process (see `createWorkerProcess`) and resolves once llama.cpp is loaded
 * in it. Calls are given a `graceMs`: a timeout or abort first asks the worker to stop at its next
 * token (the model stays loaded), and kills it with SIGKILL if it has not stopped within
 * `graceMs` (a long native call: prompt evaluation, a replay pass). Rejects with
 * `ENGINE_LOAD_FAILED` or `ENGINE_TIMEOUT` if it cannot start.
 *
 * @example
 * ```ts
 * const worker = await spawnGgufWorker({ settings, startTimeoutMs: 60_000 })
 * const { result } = worker.request({ type: 'load', id: 'm', path }, { graceMs: 0, failureCode: 'ENGINE_LOAD_FAILED', what: 'loading "m"' })
 * ```
 */
export function spawnGgufWorker(parameters: SpawnGgufWorkerParameters): Promise<GgufWorkerProcess> {
  return createWorkerProcess<GgufWorkerRequest, GgufWorkerReady, GgufWorkerTokenEvent>(
    {
      entry: workerPath,
      args: [JSON.stringify(parameters.settings)],
      name: 'GGUF worker process',
      startTimeoutMs: parameters.startTimeoutMs,
      startHints: ['Check that node-llama-cpp is installed and its binary loads here.'],
      timeoutHints: [
        'Ask for fewer tokens, or raise the limit (manifest limits.timeoutMs, engine timeoutMs).',
      ],
      abortHints: ['The worker stops at its next token (or is killed and restarted).'],
    },
    { onExit: parameters.onExit },
  )
}
