import {
  BaseError,
  hashEngineDescriptor,
  hashManifest,
  type Manifest,
  parseManifest,
  type Tensor,
} from '@verity/protocol'
import type { Engine, EngineLoadParameters, EngineRunParameters } from '../engine.ts'
import { validateInputs } from '../validateInputs.ts'
import { validateOutputs } from '../validateOutputs.ts'
import { checkModelMatchesManifest } from './checkModelMatchesManifest.ts'
import { createOnnxEngineDescriptor } from './onnxEngineDescriptor.ts'
import {
  type OnnxEngineOptions,
  type OnnxEngineOptionsInput,
  onnxSessionOptions,
  resolveOnnxEngineOptions,
} from './onnxEngineOptions.ts'
import { createOnnxWorkerPool, type OnnxWorkerSlotStats } from './onnxWorkerPool.ts'
import { type OnnxWorkerProcess, spawnOnnxWorker } from './onnxWorkerProcess.ts'
import type { OnnxLoadReply, OnnxRunReply } from './onnxWorkerProtocol.ts'

/**
 * A snapshot of an ONNX engine: loaded models, workers (pid, busy, models loaded in it), queued
 * runs and restarts (worker processes replaced after a timeout, abort or crash).
 *
 * @example
 * ```ts
 * const { restarts, workers } = engine.stats() // 0, [{ pid: 4242, busy: false, models: ['mnist'] }]
 * ```
 */
export type OnnxEngineStats = {
  models: string[]
  workers: OnnxWorkerSlotStats[]
  queued: number
  restarts: number
}

/**
 * The ONNX engine: an {@link Engine} plus its resolved options and a stats snapshot.
 *
 * @example
 * ```ts
 * const engine: OnnxEngine = createOnnxEngine({ workers: 2 })
 * engine.options.workers // 2
 * ```
 */
export type OnnxEngine = Engine & {
  readonly options: Readonly<OnnxEngineOptions>
  stats(): OnnxEngineStats
}

type ModelEntry = {
  bytes: Uint8Array
  manifest: Manifest
  manifestHash: string
  ready: Promise<void>
}

function closedError(): BaseError {
  return new BaseError('ENGINE_CLOSED', 'The engine is closed.', {
    metaMessages: ['Create a new engine to run models again.'],
  })
}

function notFoundError(id: string): BaseError {
  return new BaseError('MODEL_NOT_FOUND', `Model "${id}" is not loaded in this engine.`, {
    metaMessages: ['Call engine.load({ id, bytes, manifest }) first.'],
  })
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0
}

// Structured clone copies a typed array's whole underlying buffer (and cannot send a
// SharedArrayBuffer to another process): send views and shared memory as compact copies.
function compact(tensor: Tensor): Tensor {
  const { data } = tensor
  const whole =
    data.buffer instanceof ArrayBuffer &&
    data.byteOffset === 0 &&
    data.byteLength === data.buffer.byteLength
  return { dtype: tensor.dtype, shape: [...tensor.shape], data: whole ? data : data.slice() }
}

function checkTimeout(timeoutMs: unknown): void {
  if (timeoutMs !== undefined && !(typeof timeoutMs === 'number' && timeoutMs > 0))
    throw new BaseError(
      'INVALID_ARGUMENT',
      `timeoutMs is ${JSON.stringify(timeoutMs)}; expected a positive number of milliseconds.`,
    )
}

/**
 * Creates an ONNX engine backed by onnxruntime-node (CPU) with pinned, deterministic settings
 * (see `defaultOnnxEngineOptions`). Models run in a small pool of worker processes
 * (`options.workers`), each holding its own sessions by model id; the engine's thread never runs
 * a model. A run is validated against the manifest first (`validateInputs`), fetches only the
 * manifest's outputs, and is checked against the manifest afterwards (`validateOutputs`).
 *
 * Limits: a run is killed after the smallest of `parameters.timeoutMs`,
 * `manifest.limits.timeoutMs` and `options.timeoutMs` (`ENGINE_TIMEOUT`; time spent queued for
 * a free worker does not count), or when `signal` fires (`ENGINE_ABORTED`). A killed
 * or crashed worker is restarted at once and reloads its models lazily; the engine keeps serving.
 *
 * Worker *processes* rather than worker threads: onnxruntime-node aborts the whole process when a
 * worker thread is terminated during a native call, so a timeout could not stop a run safely.
 * Processes also contain native crashes. Cost: the tensors cross Node's IPC channel (V8
 * serialization), about 0.13 ms per small run and a few ms per MB of tensors on the 2-core
 * machines here (see bench/engineBench.ts).
 *
 * The engine keeps a reference to each model's bytes (to reload restarted workers): do not mutate
 * them while the model is loaded.
 *
 * @example
 * ```ts
 * const engine = createOnnxEngine()
 * await engine.load({ id: manifest.cid, bytes, manifest })
 * const { outputs } = await engine.run({ id: manifest.cid, inputs: { Input3: image } })
 * await engine.close()
 * ```
 */
export function createOnnxEngine(options: OnnxEngineOptionsInput = {}): OnnxEngine {
  const resolved = resolveOnnxEngineOptions(options)
  const descriptor = createOnnxEngineDescriptor(resolved)
  const sessionOptions = onnxSessionOptions(resolved)
  const models = new Map<string, ModelEntry>()
  let closed = false
  const pool = createOnnxWorkerPool({
    size: resolved.workers,
    spawn: (onExit) =>
      spawnOnnxWorker({ sessionOptions, startTimeoutMs: resolved.loadTimeoutMs, onExit }),
  })

  function loadInto(
    worker: OnnxWorkerProcess,
    id: string,
    entry: ModelEntry,
    signal?: AbortSignal,
  ): Promise<OnnxLoadReply> {
    return worker.request<OnnxLoadReply>(
      { type: 'load', id, bytes: entry.bytes },
      {
        timeoutMs: resolved.loadTimeoutMs,
        signal,
        failureCode: 'ENGINE_LOAD_FAILED',
        what: `loading model "${id}"`,
      },
    ).result
  }

  async function loadFirst(id: string, entry: ModelEntry): Promise<void> {
    await pool.execute(async (worker) => {
      const reply = await loadInto(worker, id, entry)
      try {
        checkModelMatchesManifest(id, entry.manifest, reply)
      } catch (error) {
        void worker
          .request({ type: 'unload', id }, { failureCode: 'INTERNAL', what: `unloading "${id}"` })
          .result.catch(() => {})
        throw error
      }
      worker.loaded.add(id)
      if (models.get(id) !== entry) {
        // Unloaded (or closed) while loading: do not keep a session nobody can reach.
        worker.loaded.delete(id)
        void worker
          .request({ type: 'unload', id }, { failureCode: 'INTERNAL', what: `unloading "${id}"` })
          .result.catch(() => {})
        throw notFoundError(id)
      }
    })
  }

  const engine: OnnxEngine = {
    descriptor,
    settingsHash: hashEngineDescriptor(descriptor),
    options: resolved,

    async load(parameters: EngineLoadParameters) {
      if (closed) throw closedError()
      const { id, bytes } = parameters
      if (typeof id !== 'string' || id.length === 0)
        throw new BaseError('INVALID_ARGUMENT', 'A model id must be a non-empty string.')
      if (!(bytes instanceof Uint8Array) || bytes.length === 0)
        throw new BaseError(
          'INVALID_ARGUMENT',
          `Model "${id}" bytes must be a non-empty Uint8Array.`,
        )
      const manifest = parseManifest(parameters.manifest)
      if (manifest.format !== 'onnx')
        throw new BaseError(
          'INVALID_ARGUMENT',
          `Model "${id}" has format "${manifest.format}"; the ONNX engine runs only "onnx" models.`,
        )
      const manifestHash = hashManifest(manifest)
      const existing = models.get(id)
      if (existing) {
        if (existing.manifestHash !== manifestHash || !sameBytes(existing.bytes, bytes))
          throw new BaseError(
            'INVALID_ARGUMENT',
            `Model id "${id}" is already loaded with different bytes or a different manifest.`,
            { metaMessages: ['Unload it first, or use another id (the CID is a good id).'] },
          )
        return existing.ready
      }
      const entry: ModelEntry = { bytes, manifest, manifestHash, ready: Promise.resolve() }
      entry.ready = loadFirst(id, entry)
      models.set(id, entry)
      try {
        await entry.ready
      } catch (error) {
        if (models.get(id) === entry) models.delete(id)
        throw error
      }
    },

    async run(parameters: EngineRunParameters) {
      const started = performance.now()
      if (closed) throw closedError()
      const { id, signal } = parameters
      const entry = models.get(id)
      if (!entry) throw notFoundError(id)
      await entry.ready
      checkTimeout(parameters.timeoutMs)
      const { manifest } = entry
      const { dims } = validateInputs(manifest, parameters.inputs)
      const timeoutMs = Math.min(
        parameters.timeoutMs ?? Number.POSITIVE_INFINITY,
        manifest.limits.timeoutMs,
        resolved.timeoutMs,
      )
      const inputs: Record<string, Tensor> = {}
      for (const spec of manifest.inputs)
        inputs[spec.name] = compact(parameters.inputs[spec.name] as Tensor)
      const outputNames = manifest.outputs.map((spec) => spec.name)
      const reply = await pool.execute(
        async (worker) => {
          if (models.get(id) !== entry) throw notFoundError(id)
          if (!worker.loaded.has(id)) {
            await loadInto(worker, id, entry, signal)
            worker.loaded.add(id)
          }
          return worker.request<OnnxRunReply>(
            { type: 'run', id, inputs, outputNames },
            { timeoutMs, signal, failureCode: 'ENGINE_RUN_FAILED', what: `model "${id}"` },
          ).result
        },
        { prefer: id, signal },
      )
      validateOutputs(manifest, reply.outputs, dims)
      return { outputs: reply.outputs, durationMs: performance.now() - started }
    },

    async unload(id: string) {
      if (closed) throw closedError()
      models.delete(id)
      // Release the sessions without waiting: a worker busy with a long run answers later.
      for (const worker of pool.liveWorkers())
        if (worker.loaded.delete(id))
          void worker
            .request({ type: 'unload', id }, { failureCode: 'INTERNAL', what: `unloading "${id}"` })
            .result.catch(() => {})
    },

    async close() {
      if (closed) return
      closed = true
      models.clear()
      await pool.close()
    },

    stats() {
      const { slots, queued, restarts } = pool.stats()
      return { models: [...models.keys()], workers: slots, queued, restarts }
    },
  }
  return engine
}
