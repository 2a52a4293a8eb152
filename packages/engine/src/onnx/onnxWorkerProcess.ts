import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { BaseError, type ErrorCode } from '@verity/protocol'
import type { InferenceSession } from 'onnxruntime-node'
import type { OnnxWorkerReply, OnnxWorkerRequest } from './onnxWorkerProtocol.ts'

const workerPath = fileURLToPath(new URL('./onnxWorker.ts', import.meta.url))
const stderrTailBytes = 4096

/** A request as the engine writes it (the process adds the `requestId`). */
export type OnnxWorkerCall = OnnxWorkerRequest extends infer R
  ? R extends OnnxWorkerRequest
    ? Omit<R, 'requestId'>
    : never
  : never

/** How one request is bounded and how its failures are reported. */
export type OnnxWorkerCallOptions = {
  /** Kill the worker and reject with `ENGINE_TIMEOUT` after this long (no limit when omitted). */
  timeoutMs?: number | undefined
  /** Kill the worker and reject with `ENGINE_ABORTED` when this fires. */
  signal?: AbortSignal | undefined
  /** Code used if the worker dies during the request (`ENGINE_RUN_FAILED`, `ENGINE_LOAD_FAILED`). */
  failureCode: ErrorCode
  /** What the request does, for messages: `model "mnist"`, `loading model "mnist"`. */
  what: string
}

/** One worker process: a forked `onnxWorker.ts` with its sessions, seen from the engine. */
export type OnnxWorkerProcess = {
  readonly pid: number | undefined
  /** Model ids whose session exists in this process. */
  readonly loaded: Set<string>
  /** False once the process has exited or is being killed. */
  readonly alive: boolean
  /** Sends a request and resolves with the worker's value or rejects with its `BaseError`. */
  request<T>(call: OnnxWorkerCall, options: OnnxWorkerCallOptions): Promise<T>
  /** Kills the process (SIGKILL); resolves once it has exited. `closing` makes pending calls fail with `ENGINE_CLOSED`. */
  kill(closing?: boolean): Promise<void>
  /** Keeps the host's event loop alive while the worker has work (`ref`) or not (`unref`). */
  ref(): void
  unref(): void
}

/** What {@link spawnOnnxWorker} needs. */
export type SpawnOnnxWorkerParameters = {
  sessionOptions: InferenceSession.SessionOptions
  /** Reject (and kill) when the process has not reported `ready` within this many ms. */
  startTimeoutMs: number
  /** Called once when the process exits, for whatever reason. */
  onExit?: ((worker: OnnxWorkerProcess) => void) | undefined
}

type Pending = {
  resolve: (value: unknown) => void
  reject: (error: BaseError) => void
  options: OnnxWorkerCallOptions
  dispose: () => void
}

function abortedError(what: string, reason: unknown): BaseError {
  return new BaseError('ENGINE_ABORTED', `The call for ${what} was aborted.`, {
    metaMessages: ['The worker running it was stopped and restarted.'],
    cause: reason,
  })
}

function childEnv(): NodeJS.ProcessEnv {
  // When the host runs under `node --test`, keep the worker out of the test runner's protocol.
  const env = { ...process.env }
  delete env.NODE_TEST_CONTEXT
  return env
}

/**
 * Starts a worker process and resolves once onnxruntime is loaded in it. The process runs with
 * the same Node binary and no inherited flags, talks over an IPC channel with V8 serialization
 * (typed arrays keep their class), and dies with the engine's process. Timeouts and aborts kill
 * it with SIGKILL, which is safe in the middle of a native ORT call because nothing else lives in
 * that process. Rejects with `ENGINE_LOAD_FAILED` or `ENGINE_TIMEOUT` if it cannot start.
 *
 * @example
 * ```ts
 * const worker = await spawnOnnxWorker({ sessionOptions, startTimeoutMs: 10_000 })
 * await worker.request({ type: 'load', id: 'm', bytes }, { failureCode: 'ENGINE_LOAD_FAILED', what: 'loading "m"' })
 * ```
 */
export function spawnOnnxWorker(parameters: SpawnOnnxWorkerParameters): Promise<OnnxWorkerProcess> {
  const child: ChildProcess = fork(workerPath, [JSON.stringify(parameters.sessionOptions)], {
    execArgv: [],
    env: childEnv(),
    serialization: 'advanced',
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  })
  const pending = new Map<number, Pending>()
  let nextRequestId = 1
  let alive = true
  let closing = false
  let stderrTail = ''
  let onReady: ((version: string) => void) | undefined
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))

  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-stderrTailBytes)
  })

  function settle(requestId: number): Pending | undefined {
    const entry = pending.get(requestId)
    if (!entry) return undefined
    pending.delete(requestId)
    entry.dispose()
    return entry
  }

  function kill(isClosing = false): Promise<void> {
    closing ||= isClosing
    if (alive) {
      alive = false
      // Keep the host's event loop alive until the exit is observed (the child may be unref'd).
      child.ref()
      child.kill('SIGKILL')
    }
    return exited
  }

  child.on('message', (message: OnnxWorkerReply) => {
    if (message.type === 'ready') {
      onReady?.(message.version)
      return
    }
    const entry = settle(message.requestId)
    if (!entry) return
    if (message.ok) entry.resolve(message.value)
    else
      entry.reject(
        new BaseError(message.error.code, message.error.message, {
          details: message.error.details,
          metaMessages: message.error.metaMessages,
        }),
      )
  })

  // 'error' covers a failed spawn and a failed IPC write: either way the worker is unusable.
  child.on('error', () => void kill())

  child.once('exit', (code, signal) => {
    alive = false
    const how = signal ? `was killed by ${signal}` : `exited with code ${code}`
    for (const requestId of [...pending.keys()]) {
      const entry = settle(requestId)
      if (!entry) continue
      entry.reject(
        closing
          ? new BaseError('ENGINE_CLOSED', `The engine was closed during ${entry.options.what}.`)
          : new BaseError(
              entry.options.failureCode,
              `The worker process ${how} during ${entry.options.what}.`,
              {
                metaMessages: ['The worker is restarted; the next call reloads the model.'],
                details: stderrTail.trim() || undefined,
              },
            ),
      )
    }
    parameters.onExit?.(worker)
  })

  const worker: OnnxWorkerProcess = {
    get pid() {
      return child.pid
    },
    loaded: new Set<string>(),
    get alive() {
      return alive
    },
    request<T>(call: OnnxWorkerCall, options: OnnxWorkerCallOptions): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        if (options.signal?.aborted)
          return reject(abortedError(options.what, options.signal.reason))
        if (!alive)
          return reject(
            closing
              ? new BaseError('ENGINE_CLOSED', `The engine was closed before ${options.what}.`)
              : new BaseError(
                  options.failureCode,
                  `The worker process is gone before ${options.what}.`,
                ),
          )
        const requestId = nextRequestId++
        const timer =
          options.timeoutMs === undefined
            ? undefined
            : setTimeout(() => {
                settle(requestId)?.reject(
                  new BaseError(
                    'ENGINE_TIMEOUT',
                    `${options.what[0]!.toUpperCase()}${options.what.slice(1)} did not finish within ${options.timeoutMs} ms and was stopped.`,
                    {
                      metaMessages: [
                        'The worker process was killed and is restarted; models reload on their next run.',
                        'Send a smaller input, or raise the limit (manifest limits.timeoutMs, engine timeoutMs).',
                      ],
                    },
                  ),
                )
                void kill()
              }, options.timeoutMs)
        const onAbort = () => {
          settle(requestId)?.reject(abortedError(options.what, options.signal?.reason))
          void kill()
        }
        options.signal?.addEventListener('abort', onAbort, { once: true })
        pending.set(requestId, {
          resolve: resolve as (value: unknown) => void,
          reject,
          options,
          dispose: () => {
            if (timer) clearTimeout(timer)
            options.signal?.removeEventListener('abort', onAbort)
          },
        })
        const onSendError = (error: unknown) => {
          if (!error) return
          settle(requestId)?.reject(
            new BaseError(options.failureCode, `Could not send ${options.what} to the worker.`, {
              details: error instanceof Error ? error.message : String(error),
              cause: error,
            }),
          )
          void kill()
        }
        try {
          child.send({ ...call, requestId } as OnnxWorkerRequest, onSendError)
        } catch (error) {
          onSendError(error)
        }
      })
    },
    kill,
    ref() {
      child.ref()
      child.channel?.ref()
      ;(child.stderr as { ref?: () => void } | null)?.ref?.()
    },
    unref() {
      child.unref()
      child.channel?.unref()
      ;(child.stderr as { unref?: () => void } | null)?.unref?.()
    },
  }

  return new Promise<OnnxWorkerProcess>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(
        new BaseError(
          'ENGINE_TIMEOUT',
          `The ONNX worker process did not start within ${parameters.startTimeoutMs} ms.`,
          { details: stderrTail.trim() || undefined },
        ),
      )
      void kill()
    }, parameters.startTimeoutMs)
    onReady = () => {
      clearTimeout(timer)
      resolve(worker)
    }
    void exited.then(() => {
      clearTimeout(timer)
      reject(
        new BaseError('ENGINE_LOAD_FAILED', 'The ONNX worker process exited while starting.', {
          metaMessages: ['Check that onnxruntime-node is installed and loads on this machine.'],
          details: stderrTail.trim() || undefined,
        }),
      )
    })
  })
}
