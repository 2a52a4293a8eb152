import { type ChildProcess, fork } from 'node:child_process'
import { BaseError, type ErrorCode } from '@verity/protocol'
import type { WorkerReply, WorkerRequest } from './workerProtocol.ts'

const stderrTailBytes = 4096
// After the process exited, how long its stderr may take to close (so that the tail is complete).
const stderrDrainMs = 1000

/**
 * How one call is bounded and how its failures are reported.
 *
 * @example
 * ```ts
 * const options: WorkerCallOptions = { timeoutMs: 5_000, signal, failureCode: 'ENGINE_RUN_FAILED', what: 'model "mnist"' }
 * ```
 */
export type WorkerCallOptions<Event = never> = {
  /** Reject with `ENGINE_TIMEOUT` after this long and stop the call (no limit when omitted). */
  timeoutMs?: number | undefined
  /** Reject with `ENGINE_ABORTED` when this fires and stop the call. */
  signal?: AbortSignal | undefined
  /**
   * How a timed-out or aborted call is stopped. 0 (the default) kills the process (SIGKILL) at
   * once; more asks the worker to stop the call (`context.cancelled()` in the worker) and kills
   * the process only if it has not answered within this many ms.
   */
  graceMs?: number | undefined
  /** Called for each `event` the worker sends for this call, until the call is answered. If it throws, the call is stopped as on an abort and rejects with what it threw. */
  onEvent?: ((event: Event) => void) | undefined
  /** Code used if the process dies during the call (`ENGINE_RUN_FAILED`, `ENGINE_LOAD_FAILED`). */
  failureCode: ErrorCode
  /** What the call does, for messages: `model "mnist"`, `loading model "mnist"`. */
  what: string
}

/**
 * One call in flight: `result` settles for the caller (at once on a timeout or abort);
 * `finished` resolves when the worker is done with it (it answered, or it is gone), which is when
 * the process may take the next call without waiting behind this one.
 *
 * @example
 * ```ts
 * const { result, finished } = worker.request<number[]>({ type: 'tokenize', id, text }, options)
 * ```
 */
export type WorkerCall<T> = { result: Promise<T>; finished: Promise<void> }

/**
 * One worker process seen from the engine. Calls may overlap (the worker answers them in order).
 *
 * @example
 * ```ts
 * const worker: WorkerProcess<OnnxWorkerRequest, OnnxWorkerReady> = await createWorkerProcess(options)
 * const value = await worker.request<OnnxRunReply>(call, { failureCode: 'ENGINE_RUN_FAILED', what: 'model "m"' }).result
 * ```
 */
export type WorkerProcess<Call, Ready, Event = never> = {
  readonly pid: number | undefined
  /** What the worker sent in its `ready` message. */
  readonly ready: Ready
  /** The owner's record of the models loaded in this process (the process itself never reads it). */
  readonly loaded: Set<string>
  /** False once the process has exited or is being killed. */
  readonly alive: boolean
  /** Sends a call; resolves with the worker's value or rejects with a `BaseError`. See {@link WorkerCall}. */
  request<T>(call: Call, options: WorkerCallOptions<Event>): WorkerCall<T>
  /** Kills the process (SIGKILL); resolves once it is gone. `closing` makes pending calls fail with `ENGINE_CLOSED`. */
  kill(closing?: boolean): Promise<void>
  /** Keeps the host's event loop alive while the worker has work (`ref`) or not (`unref`). */
  ref(): void
  unref(): void
}

/**
 * What to start and how to word its failures.
 *
 * @example
 * ```ts
 * const options: WorkerProcessOptions = { entry: fileURLToPath(new URL('./onnxWorker.ts', import.meta.url)), args: ['{}'], name: 'ONNX worker process', startTimeoutMs: 10_000 }
 * ```
 */
export type WorkerProcessOptions = {
  /** Absolute path of the worker's entry script (it calls `serveWorkerRequests`). */
  entry: string
  /** Its arguments (`process.argv.slice(2)` in the worker). */
  args?: readonly string[] | undefined
  /** For start failures: `ONNX worker process`. */
  name: string
  /** Reject (and kill) when the process has not sent `ready` within this many ms. */
  startTimeoutMs: number
  /** Hints added when the process exits while starting: what to check. */
  startHints?: readonly string[] | undefined
  /** Hints added to a call's `ENGINE_TIMEOUT`: what happened to the worker, what to change. */
  timeoutHints?: readonly string[] | undefined
  /** Hints added to the `ENGINE_ABORTED` of a call stopped while it ran. */
  abortHints?: readonly string[] | undefined
}

/**
 * What the process is tied to.
 *
 * @example
 * ```ts
 * const components: WorkerProcessComponents<OnnxWorkerRequest, OnnxWorkerReady> = { onExit: (worker) => restart(worker), signal: controller.signal }
 * ```
 */
export type WorkerProcessComponents<Call, Ready, Event = never> = {
  /** Called once when the process is gone, for whatever reason (after its pending calls were rejected). */
  onExit?: ((worker: WorkerProcess<Call, Ready, Event>) => void) | undefined
  /** Kills the process when it fires, as `kill(true)` does; a start in progress rejects with `ENGINE_ABORTED`. */
  signal?: AbortSignal | undefined
}

type Pending<Event> = {
  /** Settle the caller's promise; no-ops once settled. */
  resolve: (value: unknown) => void
  reject: (error: unknown) => void
  /** Stop the call early (timeout, abort, throwing `onEvent`) and reject with `error`. */
  stop: (error: unknown) => void
  finish: () => void
  options: WorkerCallOptions<Event>
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

function abortedError(what: string, reason: unknown, hints?: readonly string[]): BaseError {
  return new BaseError('ENGINE_ABORTED', `The call for ${what} was aborted.`, {
    ...(hints && hints.length > 0 ? { metaMessages: [...hints] } : {}),
    cause: reason,
  })
}

/**
 * Starts a worker process and resolves once it has sent `ready`: the parent side of the engines'
 * worker processes (the child side is `serveWorkerRequests`). The process runs `options.entry`
 * with the same Node binary and no inherited flags, talks over an IPC channel with V8
 * serialization (typed arrays keep their class), keeps the last 4 KiB of its stderr for error
 * details, and dies with the engine's process. Calls are numbered and matched to their replies; a
 * timeout or abort answers the caller at once and stops the call (see
 * {@link WorkerCallOptions.graceMs}); a process that dies fails its pending calls with the call's
 * `failureCode` (or `ENGINE_CLOSED` after `kill(true)`), and the owner starts a new one. Rejects
 * with `ENGINE_LOAD_FAILED` or `ENGINE_TIMEOUT` if the process cannot start, `ENGINE_ABORTED` if
 * `components.signal` fires first.
 *
 * @example
 * ```ts
 * const worker = await createWorkerProcess<OnnxWorkerRequest, OnnxWorkerReady>(
 *   { entry: workerPath, args: [JSON.stringify(sessionOptions)], name: 'ONNX worker process', startTimeoutMs: 10_000 },
 *   { onExit: () => console.log('worker gone') },
 * )
 * const reply = await worker.request<OnnxLoadReply>({ type: 'load', id: 'm', bytes }, { failureCode: 'ENGINE_LOAD_FAILED', what: 'loading model "m"' }).result
 * ```
 */
export function createWorkerProcess<Call, Ready, Event = never>(
  options: WorkerProcessOptions,
  components: WorkerProcessComponents<Call, Ready, Event> = {},
): Promise<WorkerProcess<Call, Ready, Event>> {
  const { signal } = components
  if (signal?.aborted)
    return Promise.reject(
      new BaseError('ENGINE_ABORTED', `The start of the ${options.name} was aborted.`, {
        cause: signal.reason,
      }),
    )
  const child: ChildProcess = fork(options.entry, [...(options.args ?? [])], {
    execArgv: [],
    env: childEnv(),
    serialization: 'advanced',
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  })
  const pending = new Map<number, Pending<Event>>()
  let nextRequestId = 1
  let alive = true
  let closing = false
  let ready: Ready | undefined
  let stderrTail = ''
  let onReady: (() => void) | undefined
  let drain: ReturnType<typeof setTimeout> | undefined
  let isGone = false
  let markGone: () => void = () => {}
  const gone = new Promise<void>((resolve) => {
    markGone = resolve
  })

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
    return gone
  }
  const onSignal = () => void kill(true)
  signal?.addEventListener('abort', onSignal, { once: true })

  function send(message: WorkerRequest<Call>, onError: (error: unknown) => void): void {
    try {
      child.send(message, (error) => {
        if (error) onError(error)
      })
    } catch (error) {
      onError(error)
    }
  }

  child.on('message', (message: WorkerReply<Ready, Event>) => {
    if (message.type === 'ready') {
      ready = message.ready
      onReady?.()
      return
    }
    const entry = pending.get(message.requestId)
    if (!entry) return
    if (message.type === 'event') {
      if (entry.settled) return
      try {
        entry.options.onEvent?.(message.event)
      } catch (error) {
        entry.stop(error)
      }
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

  // Pending calls fail once the process has exited and its stderr is read to the end ('close'),
  // so their details hold its last words; a grandchild holding stderr open cannot delay that
  // beyond `stderrDrainMs`.
  function onGone(code: number | null, exitSignal: NodeJS.Signals | null): void {
    if (isGone) return
    isGone = true
    alive = false
    if (drain) clearTimeout(drain)
    signal?.removeEventListener('abort', onSignal)
    const how = exitSignal ? `was killed by ${exitSignal}` : `exited with code ${code}`
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
    markGone()
    components.onExit?.(worker)
  }
  child.once('exit', (code, exitSignal) => {
    alive = false
    if (!isGone) drain = setTimeout(() => onGone(code, exitSignal), stderrDrainMs)
  })
  child.once('close', (code, exitSignal) => onGone(code, exitSignal))

  const worker: WorkerProcess<Call, Ready, Event> = {
    get pid() {
      return child.pid
    },
    get ready() {
      return ready as Ready
    },
    loaded: new Set<string>(),
    get alive() {
      return alive
    },
    request<T>(call: Call, callOptions: WorkerCallOptions<Event>): WorkerCall<T> {
      const { what } = callOptions
      let finish: () => void = () => {}
      const finished = new Promise<void>((resolve) => {
        finish = resolve
      })
      const result = new Promise<T>((resolve, reject) => {
        if (callOptions.signal?.aborted) {
          finish()
          return reject(abortedError(what, callOptions.signal.reason))
        }
        if (!alive) {
          finish()
          return reject(
            closing
              ? new BaseError('ENGINE_CLOSED', `The engine was closed before ${what}.`)
              : new BaseError(
                  callOptions.failureCode,
                  `The worker process is gone before ${what}.`,
                ),
          )
        }
        const requestId = nextRequestId++
        let timer: ReturnType<typeof setTimeout> | undefined
        let grace: ReturnType<typeof setTimeout> | undefined
        const onAbort = () =>
          entry.stop(abortedError(what, callOptions.signal?.reason, options.abortHints))
        const entry: Pending<Event> = {
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
          // Answer the caller now, then stop the work: by a cancel, or by killing the process.
          stop: (error) => {
            if (entry.settled) return
            entry.reject(error)
            if (timer) clearTimeout(timer)
            callOptions.signal?.removeEventListener('abort', onAbort)
            const graceMs = callOptions.graceMs ?? 0
            if (graceMs <= 0) {
              void kill()
              return
            }
            send({ type: 'cancel', target: requestId }, () => void kill())
            grace = setTimeout(() => void kill(), graceMs)
          },
          finish,
          options: callOptions,
          settled: false,
          dispose: () => {
            if (timer) clearTimeout(timer)
            if (grace) clearTimeout(grace)
            callOptions.signal?.removeEventListener('abort', onAbort)
          },
        }
        if (callOptions.timeoutMs !== undefined)
          timer = setTimeout(
            () =>
              entry.stop(
                new BaseError(
                  'ENGINE_TIMEOUT',
                  `${capitalize(what)} did not finish within ${callOptions.timeoutMs} ms and was stopped.`,
                  options.timeoutHints && options.timeoutHints.length > 0
                    ? { metaMessages: [...options.timeoutHints] }
                    : {},
                ),
              ),
            callOptions.timeoutMs,
          )
        callOptions.signal?.addEventListener('abort', onAbort, { once: true })
        pending.set(requestId, entry)
        send({ type: 'call', requestId, call }, (error) => {
          if (pending.get(requestId) !== entry) return
          pending.delete(requestId)
          entry.dispose()
          entry.reject(
            new BaseError(callOptions.failureCode, `Could not send ${what} to the worker.`, {
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

  return new Promise<WorkerProcess<Call, Ready, Event>>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(
        new BaseError(
          'ENGINE_TIMEOUT',
          `The ${options.name} did not start within ${options.startTimeoutMs} ms.`,
          { details: stderrTail.trim() || undefined },
        ),
      )
      void kill()
    }, options.startTimeoutMs)
    const onStartAbort = () => {
      clearTimeout(timer)
      reject(
        new BaseError('ENGINE_ABORTED', `The start of the ${options.name} was aborted.`, {
          cause: signal?.reason,
        }),
      )
    }
    signal?.addEventListener('abort', onStartAbort, { once: true })
    onReady = () => {
      onReady = undefined
      clearTimeout(timer)
      signal?.removeEventListener('abort', onStartAbort)
      resolve(worker)
    }
    void gone.then(() => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onStartAbort)
      reject(
        new BaseError('ENGINE_LOAD_FAILED', `The ${options.name} exited while starting.`, {
          ...(options.startHints && options.startHints.length > 0
            ? { metaMessages: [...options.startHints] }
            : {}),
          details: stderrTail.trim() || undefined,
        }),
      )
    })
  })
}
