import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { BaseError, type ErrorCode } from '@verity/protocol'
import type {
  GgufWorkerReply,
  GgufWorkerRequest,
  GgufWorkerSettings,
} from './ggufWorkerProtocol.ts'

const workerPath = fileURLToPath(new URL('./ggufWorker.ts', import.meta.url))
const stderrTailBytes = 4096

/**
 * A request as the engine writes it (the process adds the `requestId`; cancels are internal).
 *
 * @example
 * ```ts
 * const call: GgufWorkerCallRequest = { type: 'tokenize', id: 'stories', text: 'Hi' }
 * ```
 */
export type GgufWorkerCallRequest = GgufWorkerRequest extends infer R
  ? R extends GgufWorkerRequest
    ? R extends { type: 'cancel' }
      ? never
      : Omit<R, 'requestId'>
    : never
  : never

/**
 * A token event of a streaming generation.
 *
 * @example
 * ```ts
 * const event: GgufWorkerTokenEvent = { index: 0, token: 432, text: ',' }
 * ```
 */
export type GgufWorkerTokenEvent = { index: number; token: number; text: string }

/**
 * How one request is bounded and how its failures are reported.
 *
 * @example
 * ```ts
 * const options: GgufWorkerCallOptions = { timeoutMs: 5_000, signal, graceMs: 2_000, failureCode: 'ENGINE_RUN_FAILED', what: 'model "stories"' }
 * ```
 */
export type GgufWorkerCallOptions = {
  /** Reject with `ENGINE_TIMEOUT` after this long and stop the request (no limit when omitted). */
  timeoutMs?: number | undefined
  /** Reject with `ENGINE_ABORTED` when this fires and stop the request. */
  signal?: AbortSignal | undefined
  /**
   * After a timeout or abort, the worker is asked to stop at its next token; if it has not
   * answered within this many ms it is killed (SIGKILL). 0 kills at once.
   */
  graceMs: number
  /** Called for each streamed token. */
  onToken?: ((event: GgufWorkerTokenEvent) => void) | undefined
  /** Code used if the worker dies during the request (`ENGINE_RUN_FAILED`, `ENGINE_LOAD_FAILED`). */
  failureCode: ErrorCode
  /** What the request does, for messages: `model "stories"`, `loading model "stories"`. */
  what: string
}

/**
 * One request in flight: `result` settles for the caller (at once on a timeout or abort);
 * `finished` resolves when the worker is done with it (it answered, or it is gone), which is when
 * the next request may start.
 *
 * @example
 * ```ts
 * const { result, finished } = worker.request<number[]>({ type: 'tokenize', id, text }, options)
 * ```
 */
export type GgufWorkerCall<T> = { result: Promise<T>; finished: Promise<void> }

/**
 * One worker process: a forked `ggufWorker.ts` with its models, seen from the engine.
 *
 * @example
 * ```ts
 * const worker: GgufWorkerProcess = await spawnGgufWorker({ settings, startTimeoutMs: 60_000 })
 * ```
 */
export type GgufWorkerProcess = {
  readonly pid: number | undefined
  /** Model ids loaded in this process. */
  readonly loaded: Set<string>
  /** False once the process has exited or is being killed. */
  readonly alive: boolean
  /** llama.cpp's CPU feature line (`CPU : SSE3 = 1 | … | AVX512 = 1 | …`) in this process. */
  readonly systemInfo: string
  /** Sends a request; see {@link GgufWorkerCall}. */
  request<T>(call: GgufWorkerCallRequest, options: GgufWorkerCallOptions): GgufWorkerCall<T>
  /** Kills the process (SIGKILL); resolves once it has exited. `closing` makes pending calls fail with `ENGINE_CLOSED`. */
  kill(closing?: boolean): Promise<void>
  /** Keeps the host's event loop alive while the worker has work (`ref`) or not (`unref`). */
  ref(): void
  unref(): void
}

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

type Pending = {
  /** Settles the caller's promise; no-op once settled. */
  resolve: (value: unknown) => void
  reject: (error: BaseError) => void
  finish: () => void
  options: GgufWorkerCallOptions
  /** The caller has been answered (value, error, timeout or abort). */
  settled: boolean
  dispose: () => void
}

function childEnv(): NodeJS.ProcessEnv {
  // When the host runs under `node --test`, keep the worker out of the test runner's protocol.
  const env = { ...process.env }
  delete env.NODE_TEST_CONTEXT
  return env
}

function capitalize(text: string): string {
  return `${text[0]?.toUpperCase() ?? ''}${text.slice(1)}`
}

/**
 * Starts a GGUF worker process and resolves once llama.cpp is loaded in it. The process runs with
 * the same Node binary and no inherited flags, talks over an IPC channel with V8 serialization,
 * and dies with the engine's process. A timeout or abort first asks the worker to stop at its next
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
  const child: ChildProcess = fork(workerPath, [JSON.stringify(parameters.settings)], {
    execArgv: [],
    env: childEnv(),
    serialization: 'advanced',
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  })
  const pending = new Map<number, Pending>()
  let nextRequestId = 1
  let alive = true
  let closing = false
  let systemInfo = ''
  let stderrTail = ''
  let onReady: (() => void) | undefined
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))

  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-stderrTailBytes)
  })

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

  function send(message: GgufWorkerRequest, onError: (error: unknown) => void): void {
    try {
      child.send(message, (error) => {
        if (error) onError(error)
      })
    } catch (error) {
      onError(error)
    }
  }

  child.on('message', (message: GgufWorkerReply) => {
    if (message.type === 'ready') {
      systemInfo = message.systemInfo
      onReady?.()
      return
    }
    const entry = pending.get(message.requestId)
    if (!entry) return
    if (message.type === 'token') {
      if (!entry.settled) entry.options.onToken?.(message)
      return
    }
    pending.delete(message.requestId)
    entry.dispose()
    if (message.ok) entry.resolve(message.value)
    else
      entry.reject(
        new BaseError(message.error.code, message.error.message, {
          details: message.error.details,
          metaMessages: message.error.metaMessages,
        }),
      )
    entry.finish()
  })

  // 'error' covers a failed spawn and a failed IPC write: either way the worker is unusable.
  child.on('error', () => void kill())

  child.once('exit', (code, signal) => {
    alive = false
    const how = signal ? `was killed by ${signal}` : `exited with code ${code}`
    for (const [requestId, entry] of [...pending]) {
      pending.delete(requestId)
      entry.dispose()
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
      entry.finish()
    }
    parameters.onExit?.(worker)
  })

  const worker: GgufWorkerProcess = {
    get pid() {
      return child.pid
    },
    loaded: new Set<string>(),
    get alive() {
      return alive
    },
    get systemInfo() {
      return systemInfo
    },
    request<T>(call: GgufWorkerCallRequest, options: GgufWorkerCallOptions): GgufWorkerCall<T> {
      let finish: () => void = () => {}
      const finished = new Promise<void>((resolve) => {
        finish = resolve
      })
      const result = new Promise<T>((resolve, reject) => {
        if (options.signal?.aborted) {
          finish()
          return reject(
            new BaseError('ENGINE_ABORTED', `The call for ${options.what} was aborted.`, {
              cause: options.signal.reason,
            }),
          )
        }
        if (!alive) {
          finish()
          return reject(
            closing
              ? new BaseError('ENGINE_CLOSED', `The engine was closed before ${options.what}.`)
              : new BaseError(
                  options.failureCode,
                  `The worker process is gone before ${options.what}.`,
                ),
          )
        }
        const requestId = nextRequestId++
        let grace: ReturnType<typeof setTimeout> | undefined
        const entry: Pending = {
          resolve: (value) => {
            if (entry.settled) return
            entry.settled = true
            resolve(value as T)
          },
          reject: (error) => {
            if (entry.settled) return
            entry.settled = true
            reject(error)
          },
          finish,
          options,
          settled: false,
          dispose: () => {
            if (timer) clearTimeout(timer)
            if (grace) clearTimeout(grace)
            options.signal?.removeEventListener('abort', onAbort)
          },
        }
        // Answer the caller now, then stop the work: at the next token, or by killing the process.
        const stop = (error: BaseError) => {
          if (entry.settled) return
          entry.reject(error)
          options.signal?.removeEventListener('abort', onAbort)
          if (options.graceMs <= 0) {
            void kill()
            return
          }
          send({ type: 'cancel', requestId: 0, target: requestId }, () => void kill())
          grace = setTimeout(() => void kill(), options.graceMs)
        }
        const timer =
          options.timeoutMs === undefined
            ? undefined
            : setTimeout(
                () =>
                  stop(
                    new BaseError(
                      'ENGINE_TIMEOUT',
                      `${capitalize(options.what)} did not finish within ${options.timeoutMs} ms and was stopped.`,
                      {
                        metaMessages: [
                          'Ask for fewer tokens, or raise the limit (manifest limits.timeoutMs, engine timeoutMs).',
                        ],
                      },
                    ),
                  ),
                options.timeoutMs,
              )
        const onAbort = () =>
          stop(
            new BaseError('ENGINE_ABORTED', `The call for ${options.what} was aborted.`, {
              metaMessages: ['The worker stops at its next token (or is killed and restarted).'],
              cause: options.signal?.reason,
            }),
          )
        options.signal?.addEventListener('abort', onAbort, { once: true })
        pending.set(requestId, entry)
        send({ ...call, requestId } as GgufWorkerRequest, (error) => {
          if (pending.get(requestId) !== entry) return
          pending.delete(requestId)
          entry.dispose()
          entry.reject(
            new BaseError(options.failureCode, `Could not send ${options.what} to the worker.`, {
              details: error instanceof Error ? error.message : String(error),
              cause: error,
            }),
          )
          entry.finish()
          void kill()
        })
      })
      return { result, finished }
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

  return new Promise<GgufWorkerProcess>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(
        new BaseError(
          'ENGINE_TIMEOUT',
          `The GGUF worker process did not start within ${parameters.startTimeoutMs} ms.`,
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
        new BaseError('ENGINE_LOAD_FAILED', 'The GGUF worker process exited while starting.', {
          metaMessages: ['Check that node-llama-cpp is installed and its binary loads here.'],
          details: stderrTail.trim() || undefined,
        }),
      )
    })
  })
}
