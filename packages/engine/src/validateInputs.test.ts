import assert from 'node:assert/strict'
import { test } from 'node:test'
import { type ErrorCode, isBaseError, type Tensor } from '@verity/protocol'
import { makeTestManifest } from './testing/testManifest.ts'
import { validateInputs } from './validateInputs.ts'

const manifest = makeTestManifest({
  inputs: [
    { name: 'a', dtype: 'float32', shape: ['batch', 3] },
    { name: 'b', dtype: 'int64', shape: ['batch'] },
  ],
  outputs: [{ name: 'y', dtype: 'float32', shape: ['batch', 3] }],
  limits: { maxDim: 100, maxInputBytes: 1000 },
})

function f32(shape: number[]): Tensor {
  return {
    dtype: 'float32',
    shape,
    data: new Float32Array(shape.reduce((size, dim) => size * dim, 1)),
  }
}

function i64(shape: number[]): Tensor {
  return {
    dtype: 'int64',
    shape,
    data: new BigInt64Array(shape.reduce((size, dim) => size * dim, 1)),
  }
}

function assertCode(fn: () => unknown, code: ErrorCode, ...fragments: string[]): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(isBaseError(error), `expected a BaseError, got ${String(error)}`)
    assert.equal(error.code, code, error.message)
    for (const fragment of fragments) assert.ok(error.message.includes(fragment), error.message)
    return true
  })
}

test('default', () => {
  const { dims } = validateInputs(manifest, { a: f32([2, 3]), b: i64([2]) })
  assert.deepEqual(dims, { batch: 2 })
})

test('behavior: fixed-shape manifests bind no dims', () => {
  const fixed = makeTestManifest({
    inputs: [{ name: 'x', dtype: 'uint8', shape: [2, 2] }],
    outputs: [{ name: 'y', dtype: 'uint8', shape: [2, 2] }],
  })
  const x: Tensor = { dtype: 'uint8', shape: [2, 2], data: new Uint8Array(4) }
  assert.deepEqual(validateInputs(fixed, { x }), { dims: {} })
})

test('error: INPUT_MISSING names the missing input and the expected ones', () => {
  assertCode(() => validateInputs(manifest, { a: f32([2, 3]) }), 'INPUT_MISSING', '"b"', '"a", "b"')
})

test('error: INPUT_UNEXPECTED names the extra input', () => {
  assertCode(
    () => validateInputs(manifest, { a: f32([2, 3]), b: i64([2]), c: f32([1]) }),
    'INPUT_UNEXPECTED',
    '"c"',
  )
})

test('error: TENSOR_DTYPE_MISMATCH names the input, found and expected dtype', () => {
  assertCode(
    () => validateInputs(manifest, { a: f32([2, 3]), b: f32([2]) }),
    'TENSOR_DTYPE_MISMATCH',
    'Input "b"',
    'float32',
    'int64',
  )
})

test('error: TENSOR_SHAPE_MISMATCH on rank', () => {
  assertCode(
    () => validateInputs(manifest, { a: f32([6]), b: i64([2]) }),
    'TENSOR_SHAPE_MISMATCH',
    'Input "a"',
    '[6]',
    '["batch",3]',
  )
})

test('error: TENSOR_SHAPE_MISMATCH on a fixed dim', () => {
  assertCode(
    () => validateInputs(manifest, { a: f32([2, 4]), b: i64([2]) }),
    'TENSOR_SHAPE_MISMATCH',
    'Input "a" has shape [2,4], expected ["batch",3]',
    'dimension 1 is 4, expected 3',
  )
})

test('error: TENSOR_SHAPE_MISMATCH when a named dim is bound inconsistently', () => {
  assertCode(
    () => validateInputs(manifest, { a: f32([2, 3]), b: i64([5]) }),
    'TENSOR_SHAPE_MISMATCH',
    'Input "b" has shape [5]',
    'input "a" bound "batch" to 2',
  )
  const square = makeTestManifest({
    inputs: [{ name: 'm', dtype: 'float32', shape: ['n', 'n'] }],
    outputs: [{ name: 'y', dtype: 'float32', shape: ['n'] }],
  })
  assertCode(
    () => validateInputs(square, { m: f32([2, 3]) }),
    'TENSOR_SHAPE_MISMATCH',
    'an earlier dimension of the same tensor',
  )
})

test('error: TENSOR_TOO_LARGE for a dim above limits.maxDim', () => {
  assertCode(
    () => validateInputs(manifest, { a: f32([101, 3]), b: i64([101]) }),
    'TENSOR_TOO_LARGE',
    'Input "a"',
    'dimension 0 is 101',
    'limit of 100',
  )
})

test('error: TENSOR_TOO_LARGE for total input bytes above limits.maxInputBytes', () => {
  // 60 × 3 × 4 + 60 × 8 = 1200 bytes > 1000.
  assertCode(
    () => validateInputs(manifest, { a: f32([60, 3]), b: i64([60]) }),
    'TENSOR_TOO_LARGE',
    '1200 bytes',
    '1000 bytes',
  )
})

test('behavior: caller limits only tighten the manifest limits', () => {
  const inputs = { a: f32([10, 3]), b: i64([10]) }
  assert.deepEqual(validateInputs(manifest, inputs, { maxDim: 1000, maxInputBytes: 1e9 }).dims, {
    batch: 10,
  })
  assertCode(
    () => validateInputs(manifest, inputs, { maxDim: 5 }),
    'TENSOR_TOO_LARGE',
    'limit of 5',
  )
  assertCode(() => validateInputs(manifest, inputs, { maxInputBytes: 100 }), 'TENSOR_TOO_LARGE')
})

test('error: TENSOR_INVALID for malformed tensors', () => {
  const wrongLength: Tensor = { dtype: 'float32', shape: [2, 3], data: new Float32Array(5) }
  assertCode(
    () => validateInputs(manifest, { a: wrongLength, b: i64([2]) }),
    'TENSOR_SHAPE_MISMATCH',
    'Input "a"',
  )
  const wrongArray = { dtype: 'float32', shape: [2, 3], data: new Float64Array(6) } as Tensor
  assertCode(() => validateInputs(manifest, { a: wrongArray, b: i64([2]) }), 'TENSOR_INVALID')
  assertCode(
    () => validateInputs(manifest, null as unknown as Record<string, Tensor>),
    'INVALID_ARGUMENT',
  )
})
