import { BaseError } from '@verity/protocol'
import type { OnnxWorkerProcess } from './onnxWorkerProcess.ts'

/** What the pool needs: how many workers, and how to start one (given its exit callback). */
export type OnnxWorkerPoolParameters = {
  size: number
  spawn: (onExit: (worker: OnnxWorkerProcess) => void) => Promise<OnnxWorkerProcess>
}

/** A snapshot of one pool slot, for stats and tests. */
export type OnnxWorkerSlotStats = { pid: number | undefined; busy: boolean; models: string[] }

/**
 * A fixed-size pool of worker processes with a FIFO queue. Each slot runs one task at a time;
 * workers start on first use and are restarted right away when one dies (crash, timeout or
 * abort), with an empty session table: models reload lazily on their next run.
 */
export type OnnxWorkerPool = {
  /**
   * Waits for a free slot (preferring one that already has model `prefer` loaded), makes sure its
   * worker is running, and runs `task` on it. `signal` aborts the wait in the queue.
   */
  execute<T>(
    task: (worker: OnnxWorkerProcess) => Promise<T>,
    options?: { prefer?: string | undefined; signal?: AbortSignal | undefined },
  ): Promise<T>
  /** The workers that are running now (not the ones starting). */
  liveWorkers(): OnnxWorkerProcess[]
  /** `restarts` counts worker processes started to replace one (after a crash, timeout, abort). */
  stats(): { slots: OnnxWorkerSlotStats[]; queued: number; restarts: number }
  /** Rejects queued tasks with `ENGINE_CLOSED` and kills every worker. */
  close(): Promise<void>
}

type Slot = {
  busy: boolean
  worker: Promise<OnnxWorkerProcess> | undefined
  current: OnnxWorkerProcess | undefined
  /** How many processes this slot has started; every one after the first is a restart. */
  starts: number
}

type Waiter = { resolve: (slot: Slot) => void; reject: (error: BaseError) => void }

function closedError(): BaseError {
  return new BaseError('ENGINE_CLOSED', 'The engine is closed.', {
    metaMessages: ['Create a new engine to run models again.'],
  })
}

/**
 * Creates the pool. Nothing starts until the first `execute`.
 *
 * @example
 * ```ts
 * const pool = createOnnxWorkerPool({ size: 2, spawn: (onExit) => spawnOnnxWorker({ sessionOptions, startTimeoutMs, onExit }) })
 * const value = await pool.execute((worker) => worker.request(call, options))
 * ```
 */
export function createOnnxWorkerPool(parameters: OnnxWorkerPoolParameters): OnnxWorkerPool {
  const slots: Slot[] = Array.from({ length: parameters.size }, () => ({
    busy: false,
    worker: undefined,
    current: undefined,
    starts: 0,
  }))
  const waiting: Waiter[] = []
  let closed = false

  function start(slot: Slot): Promise<OnnxWorkerProcess> {
    // The slot's previous worker (if any) is dead or being replaced: forget it, so its late exit
    // event does not restart the slot a second time.
    slot.current = undefined
    slot.starts++
    const promise = parameters.spawn((worker) => {
      if (slot.current !== worker) return
      slot.current = undefined
      slot.worker = undefined
      // A running worker died (crash, timeout, abort): restart it now, so the next call does not
      // wait for a process start. A worker that failed to start is not retried here (that could
      // loop); the next call tries again and reports the error.
      if (!closed) void start(slot).catch(() => {})
    })
    slot.worker = promise
    promise.then(
      (worker) => {
        if (slot.worker !== promise) return void worker.kill()
        slot.current = worker
        if (closed) void worker.kill(true)
        else if (!slot.busy) worker.unref()
      },
      () => {
        if (slot.worker === promise) slot.worker = undefined
      },
    )
    return promise
  }

  async function workerOf(slot: Slot): Promise<OnnxWorkerProcess> {
    const worker = await (slot.worker ?? start(slot))
    if (worker.alive) return worker
    return start(slot)
  }

  function acquire(prefer: string | undefined, signal: AbortSignal | undefined): Promise<Slot> {
    if (closed) return Promise.reject(closedError())
    const idle = slots.filter((slot) => !slot.busy)
    const slot =
      idle.find((candidate) => prefer !== undefined && candidate.current?.loaded.has(prefer)) ??
      idle.find((candidate) => candidate.current?.alive) ??
      idle[0]
    if (slot) {
      slot.busy = true
      return Promise.resolve(slot)
    }
    return new Promise<Slot>((resolve, reject) => {
      const onAbort = () => {
        const index = waiting.indexOf(waiter)
        if (index >= 0) waiting.splice(index, 1)
        reject(
          new BaseError('ENGINE_ABORTED', 'The call was aborted while waiting for a worker.', {
            cause: signal?.reason,
          }),
        )
      }
      const waiter: Waiter = {
        resolve: (slot) => {
          signal?.removeEventListener('abort', onAbort)
          resolve(slot)
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort)
          reject(error)
        },
      }
      waiting.push(waiter)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  function release(slot: Slot): void {
    const next = waiting.shift()
    if (next && !closed) {
      next.resolve(slot)
      return
    }
    slot.busy = false
    slot.current?.unref()
  }

  return {
    async execute(task, options = {}) {
      if (options.signal?.aborted)
        throw new BaseError('ENGINE_ABORTED', 'The call was aborted before it started.', {
          cause: options.signal.reason,
        })
      const slot = await acquire(options.prefer, options.signal)
      try {
        const worker = await workerOf(slot)
        worker.ref()
        return await task(worker)
      } finally {
        release(slot)
      }
    },
    liveWorkers() {
      return slots.flatMap((slot) => (slot.current?.alive ? [slot.current] : []))
    },
    stats() {
      return {
        slots: slots.map((slot) => ({
          pid: slot.current?.alive ? slot.current.pid : undefined,
          busy: slot.busy,
          models: slot.current?.alive ? [...slot.current.loaded] : [],
        })),
        queued: waiting.length,
        restarts: slots.reduce((sum, slot) => sum + Math.max(0, slot.starts - 1), 0),
      }
    },
    async close() {
      if (closed) return
      closed = true
      for (const waiter of waiting.splice(0)) waiter.reject(closedError())
      await Promise.all(
        slots.map(async (slot) => {
          const worker = await slot.worker?.catch(() => undefined)
          await worker?.kill(true)
        }),
      )
    },
  }
}
