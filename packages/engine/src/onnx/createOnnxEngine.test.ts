import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { type TestContext, test } from 'node:test'
import {
  type ErrorCode,
  encodeTensors,
  hashEngineDescriptor,
  isBaseError,
  type Manifest,
  type Tensor,
} from '@verity/protocol'
import { detectCpuIsa } from '../detectCpuIsa.ts'
import { assetPath, assetsAbsent, readAssetJson } from '../testing/assets.ts'
import { buildOnnxModel } from '../testing/buildOnnxModel.ts'
import { makeTestManifest } from '../testing/testManifest.ts'
import { createOnnxEngine, type OnnxEngine } from './createOnnxEngine.ts'
import type { OnnxEngineOptionsInput } from './onnxEngineOptions.ts'

const mnistDir = 'onnx/onnx-model-zoo-mnist'
type Sample = { input_uint8_0_255_row_major_28x28: number[]; expected_class: number }
type Golden = {
  mnist8_logits_ort_1_30_cpu: number[]
  mnist_12_int8_logits_ort_1_30_cpu: number[]
  expected_class: number
}

const mnistManifest = makeTestManifest({
  name: 'mnist',
  inputs: [{ name: 'Input3', dtype: 'float32', shape: [1, 1, 28, 28] }],
  outputs: [{ name: 'Plus214_Output_0', dtype: 'float32', shape: [1, 10] }],
  comparison: { kind: 'tolerance', absolute: 1e-5, relative: 1e-5 },
})

const squeezenetManifest = makeTestManifest({
  name: 'squeezenet',
  inputs: [{ name: 'data_0', dtype: 'float32', shape: [1, 3, 224, 224] }],
  outputs: [{ name: 'softmaxout_1', dtype: 'float32', shape: [1, 1000, 1, 1] }],
})

const squeezenetInput: Tensor = {
  dtype: 'float32',
  shape: [1, 3, 224, 224],
  data: new Float32Array(3 * 224 * 224).fill(0.5),
}

function engineFor(t: TestContext, options: OnnxEngineOptionsInput = {}): OnnxEngine {
  const engine = createOnnxEngine(options)
  t.after(() => engine.close())
  return engine
}

function readModel(relative: string): Uint8Array | undefined {
  const path = assetPath(relative)
  return path ? readFileSync(path) : undefined
}

function mnistSamples(): Tensor[] {
  const { samples } = readAssetJson<{ samples: Sample[] }>(`${mnistDir}/test_data_npz_as_json.json`)
  return samples.map((sample) => ({
    dtype: 'float32',
    shape: [1, 1, 28, 28],
    data: Float32Array.from(sample.input_uint8_0_255_row_major_28x28),
  }))
}

async function rejectsWith(
  promise: Promise<unknown>,
  code: ErrorCode,
  ...fragments: string[]
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isBaseError(error), `expected a BaseError, got ${String(error)}`)
    assert.equal(error.code, code, error.message)
    for (const fragment of fragments) assert.ok(error.message.includes(fragment), error.message)
    return true
  })
}

// Yields to the event loop until `condition` holds (process exits are observed asynchronously).
async function eventually(condition: () => boolean): Promise<void> {
  for (let turn = 0; turn < 10_000 && !condition(); turn++)
    await new Promise((resolve) => setTimeout(resolve, 1))
  assert.ok(condition(), 'condition not reached')
}

function argmax(values: ArrayLike<number>): number {
  let best = 0
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i
  return best
}

test('default', (t) => {
  const engine = engineFor(t)
  const ortPackage = createRequire(import.meta.url)('onnxruntime-node/package.json') as {
    version: string
  }
  assert.deepEqual(engine.descriptor, {
    name: 'onnxruntime-node',
    version: ortPackage.version,
    settings: {
      executionProvider: 'cpu',
      graphOptimizationLevel: 'basic',
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      isa: detectCpuIsa(),
    },
  })
  assert.equal(engine.settingsHash, hashEngineDescriptor(engine.descriptor))
  // Settings that change outputs change the hash; operational ones do not appear.
  const twoThreads = engineFor(t, { intraOpNumThreads: 2, workers: 3, timeoutMs: 5 })
  assert.notEqual(twoThreads.settingsHash, engine.settingsHash)
  assert.equal(twoThreads.descriptor.settings.workers, undefined)
})

test('behavior: mnist-8 reproduces the golden logits of the zoo inputs within 1e-5', async (t) => {
  const bytes = readModel(`${mnistDir}/mnist-8.onnx`)
  if (!bytes) return t.skip(assetsAbsent)
  const golden = readAssetJson<Golden[]>(`${mnistDir}/LOCAL_golden_outputs_ort1.30.json`)
  const samples = mnistSamples()
  const engine = engineFor(t)
  await engine.load({ id: 'mnist-8', bytes, manifest: mnistManifest })
  for (const [index, input] of samples.entries()) {
    const { outputs, durationMs } = await engine.run({ id: 'mnist-8', inputs: { Input3: input } })
    assert.ok(durationMs > 0)
    const logits = outputs.Plus214_Output_0!
    assert.deepEqual(logits.shape, [1, 10])
    const expected = golden[index]!.mnist8_logits_ort_1_30_cpu
    for (const [k, value] of expected.entries())
      assert.ok(
        Math.abs((logits.data[k] as number) - value) <= 1e-5 * Math.abs(value),
        `sample ${index} logit ${k}: ${logits.data[k]} vs ${value}`,
      )
    assert.equal(argmax(logits.data as Float32Array), golden[index]!.expected_class)
  }
})

test('behavior: float outputs depend on the optimization level (the golden file used "all")', async (t) => {
  const bytes = readModel(`${mnistDir}/mnist-8.onnx`)
  if (!bytes) return t.skip(assetsAbsent)
  const golden = readAssetJson<Golden[]>(`${mnistDir}/LOCAL_golden_outputs_ort1.30.json`)
  const [input] = mnistSamples()
  const logitsAt = async (level: 'basic' | 'all') => {
    const engine = engineFor(t, { graphOptimizationLevel: level })
    await engine.load({ id: 'mnist-8', bytes, manifest: mnistManifest })
    const { outputs } = await engine.run({ id: 'mnist-8', inputs: { Input3: input! } })
    return [...(outputs.Plus214_Output_0!.data as Float32Array)]
  }
  const all = await logitsAt('all')
  assert.deepEqual(all, golden[0]!.mnist8_logits_ort_1_30_cpu)
  assert.notDeepEqual(await logitsAt('basic'), all)
})

test('behavior: mnist-12-int8 output bytes are identical across thread counts and engines', async (t) => {
  const bytes = readModel(`${mnistDir}/mnist-12-int8.onnx`)
  if (!bytes) return t.skip(assetsAbsent)
  const golden = readAssetJson<Golden[]>(`${mnistDir}/LOCAL_golden_outputs_ort1.30.json`)
  const samples = mnistSamples()
  const outputBytes = async (engine: OnnxEngine) => {
    await engine.load({ id: 'int8', bytes, manifest: mnistManifest })
    const encoded: Uint8Array[] = []
    for (const input of samples) {
      const { outputs } = await engine.run({ id: 'int8', inputs: { Input3: input } })
      encoded.push(encodeTensors(outputs))
    }
    return encoded
  }
  const oneThread = await outputBytes(engineFor(t, { intraOpNumThreads: 1 }))
  const otherEngine = await outputBytes(engineFor(t, { intraOpNumThreads: 1 }))
  const twoThreads = await outputBytes(engineFor(t, { intraOpNumThreads: 2 }))
  assert.deepEqual(otherEngine, oneThread)
  assert.deepEqual(twoThreads, oneThread)
  // And they are the logits onnxruntime 1.30 gave the collector, to the bit.
  const first = new Float32Array(oneThread[0]!.buffer.slice(-40))
  assert.deepEqual([...first], golden[0]!.mnist_12_int8_logits_ort_1_30_cpu)
})

test('behavior: dynamic dims, ai.onnx.ml operators and only the declared outputs', async (t) => {
  const bytes = readModel('onnx/onnxruntime_go/sklearn_randomforest.onnx')
  if (!bytes) return t.skip(assetsAbsent)
  const expected = readAssetJson<{ input: number[]; output_label: number[] }>(
    'onnx/onnxruntime_go/sklearn_randomforest_EXPECTED_from_test.json',
  )
  const manifest = makeTestManifest({
    inputs: [{ name: 'X', dtype: 'float32', shape: ['n', 4] }],
    outputs: [{ name: 'output_label', dtype: 'int64', shape: ['n'] }],
  })
  const engine = engineFor(t)
  await engine.load({ id: 'forest', bytes, manifest })
  const X: Tensor = { dtype: 'float32', shape: [6, 4], data: Float32Array.from(expected.input) }
  const { outputs } = await engine.run({ id: 'forest', inputs: { X } })
  assert.deepEqual(Object.keys(outputs), ['output_label'])
  assert.deepEqual(outputs.output_label, {
    dtype: 'int64',
    shape: [6],
    data: BigInt64Array.from(expected.output_label.map(BigInt)),
  })
  const one = await engine.run({
    id: 'forest',
    inputs: { X: { ...X, shape: [1, 4], data: X.data.slice(0, 4) } },
  })
  assert.deepEqual(one.outputs.output_label!.shape, [1])
})

test('behavior: bool, int64, uint64, float16 and float64 tensors cross the worker intact', async (t) => {
  const types = ['bool', 'int64', 'uint64', 'float16', 'float64'] as const
  const bytes = buildOnnxModel({
    nodes: [
      { op: 'Not', inputs: ['bool'], outputs: ['bool_out'] },
      ...types
        .filter((type) => type !== 'bool')
        .map((type) => ({ op: 'Identity', inputs: [type], outputs: [`${type}_out`] })),
    ],
    inputs: types.map((type) => ({ name: type, type, shape: ['n'] })),
    outputs: types.map((type) => ({ name: `${type}_out`, type, shape: ['n'] })),
  })
  const manifest = makeTestManifest({
    inputs: types.map((dtype) => ({ name: dtype, dtype, shape: ['n'] })),
    outputs: types.map((dtype) => ({ name: `${dtype}_out`, dtype, shape: ['n'] })),
  })
  const inputs: Record<string, Tensor> = {
    bool: { dtype: 'bool', shape: [3], data: new Uint8Array([1, 0, 1]) },
    int64: { dtype: 'int64', shape: [3], data: new BigInt64Array([-(2n ** 62n), 0n, 7n]) },
    uint64: { dtype: 'uint64', shape: [3], data: new BigUint64Array([2n ** 64n - 1n, 0n, 1n]) },
    float16: { dtype: 'float16', shape: [3], data: new Uint16Array([0x3c00, 0x8000, 0x7c00]) },
    float64: { dtype: 'float64', shape: [3], data: new Float64Array([Math.PI, -0, 1e300]) },
  }
  const engine = engineFor(t)
  await engine.load({ id: 'types', bytes, manifest })
  const { outputs } = await engine.run({ id: 'types', inputs })
  assert.deepEqual(outputs.bool_out, { dtype: 'bool', shape: [3], data: new Uint8Array([0, 1, 0]) })
  for (const type of types.filter((type) => type !== 'bool'))
    assert.deepEqual(outputs[`${type}_out`], inputs[type], type)
})

test('error: every input validation error surfaces from run before anything executes', async (t) => {
  const bytes = readModel(`${mnistDir}/mnist-8.onnx`)
  if (!bytes) return t.skip(assetsAbsent)
  const manifest = makeTestManifest({
    inputs: mnistManifest.inputs,
    outputs: mnistManifest.outputs,
    limits: { maxInputBytes: 3000 },
  })
  const engine = engineFor(t)
  await engine.load({ id: 'mnist', bytes, manifest })
  const image = (shape: number[], data = new Float32Array(784)): Tensor => ({
    dtype: 'float32',
    shape,
    data,
  })
  await rejectsWith(engine.run({ id: 'mnist', inputs: {} }), 'INPUT_MISSING', '"Input3"')
  await rejectsWith(
    engine.run({ id: 'mnist', inputs: { Input3: image([1, 1, 28, 28]), extra: image([784]) } }),
    'INPUT_UNEXPECTED',
    '"extra"',
  )
  await rejectsWith(
    engine.run({
      id: 'mnist',
      inputs: { Input3: { dtype: 'int32', shape: [1, 1, 28, 28], data: new Int32Array(784) } },
    }),
    'TENSOR_DTYPE_MISMATCH',
    'int32',
    'float32',
  )
  await rejectsWith(
    engine.run({ id: 'mnist', inputs: { Input3: image([1, 784]) } }),
    'TENSOR_SHAPE_MISMATCH',
    'Input "Input3" has shape [1,784]',
    '[1,1,28,28]',
  )
  // 784 × 4 = 3136 bytes > 3000.
  await rejectsWith(
    engine.run({ id: 'mnist', inputs: { Input3: image([1, 1, 28, 28]) } }),
    'TENSOR_TOO_LARGE',
    '3136 bytes',
  )
  await rejectsWith(
    engine.run({ id: 'mnist', inputs: { Input3: image([1, 1, 28, 28], new Float32Array(5)) } }),
    'TENSOR_SHAPE_MISMATCH',
  )
  await rejectsWith(
    engine.run({ id: 'mnist', inputs: { Input3: image([1, 1, 28, 28]) }, timeoutMs: 0 }),
    'INVALID_ARGUMENT',
    'timeoutMs',
  )
  // None of it reached a worker.
  assert.equal(engine.stats().restarts, 0)
})

test('error: MODEL_NOT_FOUND for unknown and unloaded ids; load is idempotent per id', async (t) => {
  const bytes = readModel(`${mnistDir}/mnist-8.onnx`)
  const other = readModel(`${mnistDir}/mnist-12.onnx`)
  if (!bytes || !other) return t.skip(assetsAbsent)
  const engine = engineFor(t)
  await rejectsWith(engine.run({ id: 'nope', inputs: {} }), 'MODEL_NOT_FOUND', '"nope"')
  await Promise.all([
    engine.load({ id: 'm', bytes, manifest: mnistManifest }),
    engine.load({ id: 'm', bytes: Uint8Array.from(bytes), manifest: mnistManifest }),
  ])
  await engine.load({ id: 'm', bytes, manifest: mnistManifest })
  assert.deepEqual(engine.stats().models, ['m'])
  await rejectsWith(
    engine.load({ id: 'm', bytes: other, manifest: mnistManifest }),
    'INVALID_ARGUMENT',
    'already loaded with different bytes',
  )
  const [input] = mnistSamples()
  await engine.run({ id: 'm', inputs: { Input3: input! } })
  assert.deepEqual(engine.stats().workers[0]!.models, ['m'])
  await engine.unload('m')
  await engine.unload('m')
  await rejectsWith(engine.run({ id: 'm', inputs: { Input3: input! } }), 'MODEL_NOT_FOUND')
  await engine.load({ id: 'm', bytes: other, manifest: mnistManifest })
  const { outputs } = await engine.run({ id: 'm', inputs: { Input3: input! } })
  assert.equal(argmax(outputs.Plus214_Output_0!.data as Float32Array), 5)
})

test("error: ENGINE_LOAD_FAILED carries onnxruntime's message; the engine keeps serving", async (t) => {
  const bytes = readModel(`${mnistDir}/mnist-8.onnx`)
  if (!bytes) return t.skip(assetsAbsent)
  const engine = engineFor(t)
  await assert.rejects(
    engine.load({ id: 'junk', bytes: new Uint8Array([8, 1, 2, 3, 4]), manifest: mnistManifest }),
    (error) => {
      assert.ok(isBaseError(error, 'ENGINE_LOAD_FAILED'))
      assert.match(error.details ?? '', /protobuf parsing failed/i)
      return true
    },
  )
  assert.deepEqual(engine.stats().models, [])
  await rejectsWith(engine.run({ id: 'junk', inputs: {} }), 'MODEL_NOT_FOUND')
  await rejectsWith(
    engine.load({ id: 'gguf', bytes, manifest: { ...mnistManifest, format: 'gguf' } }),
    'INVALID_ARGUMENT',
    '"gguf"',
  )
  await rejectsWith(
    engine.load({ id: 'bad', bytes, manifest: { ...mnistManifest, cid: 'Qm' } as Manifest }),
    'MANIFEST_INVALID',
  )
  await engine.load({ id: 'm', bytes, manifest: mnistManifest })
  const [input] = mnistSamples()
  assert.ok((await engine.run({ id: 'm', inputs: { Input3: input! } })).outputs.Plus214_Output_0)
})

test('error: MANIFEST_INVALID when the manifest does not describe the model', async (t) => {
  const bytes = readModel(`${mnistDir}/mnist-8.onnx`)
  if (!bytes) return t.skip(assetsAbsent)
  const engine = engineFor(t)
  const wrong = makeTestManifest({
    inputs: [{ name: 'image', dtype: 'float32', shape: [1, 784] }],
    outputs: mnistManifest.outputs,
  })
  await rejectsWith(engine.load({ id: 'm', bytes, manifest: wrong }), 'MANIFEST_INVALID', '"m"')
  assert.deepEqual(engine.stats().models, [])
})

test('error: ENGINE_OUTPUT_UNSUPPORTED for a non-tensor output (scikit-learn ZipMap)', async (t) => {
  const bytes = readModel('onnx/onnxruntime_go/sklearn_randomforest.onnx')
  if (!bytes) return t.skip(assetsAbsent)
  const manifest = makeTestManifest({
    inputs: [{ name: 'X', dtype: 'float32', shape: ['n', 4] }],
    outputs: [{ name: 'output_probability', dtype: 'float32', shape: ['n', 3] }],
  })
  await rejectsWith(
    engineFor(t).load({ id: 'forest', bytes, manifest }),
    'ENGINE_OUTPUT_UNSUPPORTED',
    'output_probability',
  )
})

test("error: ENGINE_RUN_FAILED carries onnxruntime's message", async (t) => {
  const bytes = buildOnnxModel({
    nodes: [{ op: 'Reshape', inputs: ['x', 'shape'], outputs: ['y'] }],
    inputs: [
      { name: 'x', type: 'float32', shape: ['n'] },
      { name: 'shape', type: 'int64', shape: [2] },
    ],
    outputs: [{ name: 'y', type: 'float32', shape: ['a', 'b'] }],
  })
  const manifest = makeTestManifest({
    inputs: [
      { name: 'x', dtype: 'float32', shape: ['n'] },
      { name: 'shape', dtype: 'int64', shape: [2] },
    ],
    outputs: [{ name: 'y', dtype: 'float32', shape: ['a', 'b'] }],
  })
  const engine = engineFor(t)
  await engine.load({ id: 'reshape', bytes, manifest })
  const x: Tensor = { dtype: 'float32', shape: [4], data: new Float32Array([1, 2, 3, 4]) }
  const shape = (a: bigint, b: bigint): Tensor => ({
    dtype: 'int64',
    shape: [2],
    data: new BigInt64Array([a, b]),
  })
  await assert.rejects(
    engine.run({ id: 'reshape', inputs: { x, shape: shape(3n, 3n) } }),
    (error) => {
      assert.ok(isBaseError(error, 'ENGINE_RUN_FAILED'))
      assert.match(error.shortMessage, /"reshape"/)
      assert.match(error.details ?? '', /reshape/i)
      return true
    },
  )
  const { outputs } = await engine.run({ id: 'reshape', inputs: { x, shape: shape(2n, 2n) } })
  assert.deepEqual(outputs.y, {
    dtype: 'float32',
    shape: [2, 2],
    data: new Float32Array([1, 2, 3, 4]),
  })
  assert.equal(engine.stats().restarts, 0)
})

test('error: ENGINE_TIMEOUT stops a long run; the engine keeps serving', async (t) => {
  const squeezenet = readModel('onnx-backend/light/light_squeezenet.onnx')
  const mnist = readModel(`${mnistDir}/mnist-8.onnx`)
  if (!squeezenet || !mnist) return t.skip(assetsAbsent)
  const engine = engineFor(t)
  await engine.load({ id: 'squeezenet', bytes: squeezenet, manifest: squeezenetManifest })
  await engine.load({ id: 'mnist', bytes: mnist, manifest: mnistManifest })
  const before = engine.stats().workers[0]!.pid
  await rejectsWith(
    engine.run({ id: 'squeezenet', inputs: { data_0: squeezenetInput }, timeoutMs: 1 }),
    'ENGINE_TIMEOUT',
    'Model "squeezenet" did not finish within 1 ms',
  )
  // A normal run right after: a new worker process, both models reloaded lazily.
  const { outputs } = await engine.run({ id: 'squeezenet', inputs: { data_0: squeezenetInput } })
  assert.deepEqual(outputs.softmaxout_1!.shape, [1, 1000, 1, 1])
  const [input] = mnistSamples()
  assert.ok(
    (await engine.run({ id: 'mnist', inputs: { Input3: input! } })).outputs.Plus214_Output_0,
  )
  const stats = engine.stats()
  assert.equal(stats.restarts, 1)
  assert.notEqual(stats.workers[0]!.pid, before)
  assert.deepEqual(stats.workers[0]!.models.sort(), ['mnist', 'squeezenet'])
})

test('error: an aborted run is ENGINE_ABORTED; the engine keeps serving', async (t) => {
  const squeezenet = readModel('onnx-backend/light/light_squeezenet.onnx')
  if (!squeezenet) return t.skip(assetsAbsent)
  const engine = engineFor(t)
  await engine.load({ id: 'squeezenet', bytes: squeezenet, manifest: squeezenetManifest })
  const inputs = { data_0: squeezenetInput }
  await rejectsWith(
    engine.run({ id: 'squeezenet', inputs, signal: AbortSignal.abort() }),
    'ENGINE_ABORTED',
    'aborted',
  )
  assert.equal(engine.stats().restarts, 0)
  const controller = new AbortController()
  const running = engine.run({ id: 'squeezenet', inputs, signal: controller.signal })
  await new Promise((resolve) => setImmediate(resolve)) // the request is with the worker now
  controller.abort()
  await rejectsWith(running, 'ENGINE_ABORTED', 'aborted')
  assert.ok((await engine.run({ id: 'squeezenet', inputs })).outputs.softmaxout_1)
  assert.equal(engine.stats().restarts, 1)
})

test('behavior: a crashed worker fails only its run and is replaced', async (t) => {
  const squeezenet = readModel('onnx-backend/light/light_squeezenet.onnx')
  if (!squeezenet) return t.skip(assetsAbsent)
  const engine = engineFor(t)
  await engine.load({ id: 'squeezenet', bytes: squeezenet, manifest: squeezenetManifest })
  const inputs = { data_0: squeezenetInput }
  const running = engine.run({ id: 'squeezenet', inputs })
  await new Promise((resolve) => setImmediate(resolve))
  process.kill(engine.stats().workers[0]!.pid!, 'SIGKILL') // a native crash looks like this
  await rejectsWith(running, 'ENGINE_RUN_FAILED', 'killed by SIGKILL')
  await eventually(() => engine.stats().workers[0]!.pid !== undefined)
  assert.ok((await engine.run({ id: 'squeezenet', inputs })).outputs.softmaxout_1)
  assert.equal(engine.stats().restarts, 1)
})

test('behavior: a pool of two workers serves concurrent runs with identical results', async (t) => {
  const bytes = readModel(`${mnistDir}/mnist-12-int8.onnx`)
  if (!bytes) return t.skip(assetsAbsent)
  const engine = engineFor(t, { workers: 2 })
  await engine.load({ id: 'int8', bytes, manifest: mnistManifest })
  const samples = mnistSamples()
  const results = await Promise.all(
    Array.from({ length: 12 }, (_, i) =>
      engine.run({ id: 'int8', inputs: { Input3: samples[i % 3]! } }),
    ),
  )
  for (const [i, result] of results.entries())
    assert.deepEqual(encodeTensors(result.outputs), encodeTensors(results[i % 3]!.outputs))
  const pids = engine.stats().workers.map((worker) => worker.pid)
  assert.equal(new Set(pids).size, 2)
  assert.ok(pids.every((pid) => typeof pid === 'number'))
})

test('error: ENGINE_CLOSED for runs in flight and for every call after close', async (t) => {
  const squeezenet = readModel('onnx-backend/light/light_squeezenet.onnx')
  if (!squeezenet) return t.skip(assetsAbsent)
  const engine = createOnnxEngine()
  await engine.load({ id: 'squeezenet', bytes: squeezenet, manifest: squeezenetManifest })
  const pid = engine.stats().workers[0]!.pid!
  const running = engine.run({ id: 'squeezenet', inputs: { data_0: squeezenetInput } })
  await new Promise((resolve) => setImmediate(resolve))
  await engine.close()
  await rejectsWith(running, 'ENGINE_CLOSED')
  assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' })
  await rejectsWith(engine.run({ id: 'squeezenet', inputs: {} }), 'ENGINE_CLOSED')
  await rejectsWith(
    engine.load({ id: 'x', bytes: squeezenet, manifest: squeezenetManifest }),
    'ENGINE_CLOSED',
  )
  await rejectsWith(engine.unload('squeezenet'), 'ENGINE_CLOSED')
  await engine.close()
})
